"""Fine-tuning a candidate within a time budget, optionally with the lower encoder layers frozen.

One epoch runs first and is timed, then as many more as fit in the budget (at most ``epochs``
in all), under a fresh learning-rate schedule. The budget is also checked after every step: on a
machine slower than planned the run stops between two steps instead of overrunning. Either way
the model ends calibrated and in eval mode. Freezing the embeddings and the lowest ``frozen_layers``
transformer layers keeps what the encoder already knows about language and spares their backward
pass: on small label sets it is both faster and less prone to forgetting.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from models.checkpoint import Checkpoint
from models.classifier import MoodClassifier
from models.examples import Example
from models.training import TrainingConfig, calibrate, fine_tune
from retrain.distill import DistillationLoss, record_parent


class _OutOfTime(Exception):
    """Raised from the step callback when the budget is spent: stop between two steps."""


# The parent's heads are trained already: the fresh-head rate of models.training (2e-3)
# overshoots them. Measured (bench/retrain_choices, 1,000 labels/channel): golden news
# macro-F1 0.770 at 2e-3 vs 0.795 at 2e-4 (parent 0.810), financial news 0.600 vs 0.611.
# The encoder rate: 8e-5 instead of the seed recipe's 4e-5, since a retrain affords two epochs
# where the seed training runs four. Measured (bench/retrain_choices, 1,000 labels/channel, two
# epochs, distillation on): financial news 0.610 -> 0.627, tweets 0.572 -> 0.584, golden
# sentiment 0.844 -> 0.843.
RETRAIN_TUNING: dict[str, Any] = {"head_lr": 2e-4, "encoder_lr": 8e-5}
_LAYER = re.compile(r"(?:^|\.)layers?\.(\d+)\.")
CALIBRATION_FRACTION = 0.1


# Below this many new labels only the heads train: the whole encoder stays frozen.
HEADS_ONLY_BELOW = 200
ALL_LAYERS = 1000  # freeze_lower_layers caps it at the encoder's depth


def default_frozen_layers(examples: int, new_labels: int | None = None) -> int:
    """Layers to freeze when the settings leave it open.

    All of them (heads only) under ``HEADS_ONLY_BELOW`` new labels: a few dozen labels cannot
    teach the encoder anything, but training its top layers on them moves the geometry the
    topic prototypes rely on. Measured in the first-run demo (45-52 sentiment labels, four
    frozen layers): golden news/markets topic macro-F1 0.917 -> 0.762 and 0.781, rejected by
    the gate both times (McNemar p 0.002 / 0.004).

    Four of six below 5,000 examples: measured on this machine, one thread, MiniLM-L6, four
    frozen layers train at 44 examples/s against 28 with two, and a retrain of a few thousand
    labels then fits whole epochs into its budget (the learning curve's 1,000-label step with
    two frozen layers planned on the previous step's rate, ran out of budget mid-epoch and
    ended with the learning rate undecayed).
    """
    if new_labels is not None and new_labels < HEADS_ONLY_BELOW:
        return ALL_LAYERS
    return 4 if examples < 5000 else 2


def training_threads(requested: int | None) -> int:
    """Intra-op threads for fine-tuning: ``requested`` if given, else every core this process
    may use when the machine is otherwise idle, and one when other work keeps the cores busy.

    Why one: measured on the shared 2-core machine at load average ~8, two threads trained at
    3.9 examples/s and one at 19/s (frozen 2 layers). Each training step is many small ops,
    and two OpenMP threads wait on each other at every op while a third process holds a core.
    Serving engines set the process-wide count to every core (``models.inference``), so a
    process that scored before it trains (the scheduler, the benchmarks) must set it again.
    """
    if requested:
        return requested
    cores = len(os.sched_getaffinity(0))
    busy = os.getloadavg()[0] > cores - 1
    return 1 if busy else cores


def encoder_depth(model: MoodClassifier) -> int:
    """How many numbered layers the encoder has."""
    found = (_LAYER.search(name) for name, _ in model.encoder.named_parameters())
    return max((int(match.group(1)) + 1 for match in found if match), default=0)


def freeze_lower_layers(model: MoodClassifier, layers: int) -> int:
    """Stop gradients into the embeddings and the lowest ``layers`` layers; returns how many
    parameters were frozen (0 when ``layers`` is 0)."""
    frozen = 0
    for name, parameter in model.encoder.named_parameters():
        match = _LAYER.search(name)
        lower = match is not None and int(match.group(1)) < layers
        if layers > 0 and (name.startswith("embeddings.") or lower):
            parameter.requires_grad_(False)
            frozen += parameter.numel()
        else:
            parameter.requires_grad_(True)
    return frozen


@dataclass(frozen=True)
class Distillation:
    """Teach the replayed examples the parent's soft answers (see :mod:`retrain.distill`).

    ``hard_replay`` keeps the replay's own labels as well; without it the replay is taught
    the parent's probabilities only.
    """

    temperature: float = 2.0
    weight: float = 1.0
    hard_replay: bool = True


@dataclass
class BudgetedTraining:
    epochs_run: int  # whole epochs; 0 when the budget ended the first one
    steps: int
    stopped_early: bool
    seconds: float
    first_epoch_seconds: float
    examples: int
    frozen_layers: int
    frozen_parameters: int
    new_used: int
    replay_used: int
    planned_rate: float | None
    sentiment_temperature: float = 1.0
    topic_temperature: float = 1.0
    final_loss: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)

    batch_size: int = 16

    @property
    def examples_per_second(self) -> float:
        """Training examples per second of training (calibration excluded)."""
        return self.steps * self.batch_size / self.training_seconds if self.steps else 0.0

    training_seconds: float = 0.0
    threads: int = 1
    replay_per_epoch: int | None = None
    distillation: dict[str, Any] | None = None


SAFETY = 0.8  # plan for 80 % of the measured rate: the machine may be busier this time


def fit_to_budget(
    new: Sequence[Example],
    replay: Sequence[Example],
    *,
    budget_s: float,
    rate: float,
    epochs: int,
    rng: random.Random,
    replay_per_epoch: int | None = None,
) -> tuple[list[Example], list[Example], int]:
    """The new and replay examples and the epochs that fit ``budget_s`` at ``rate`` examples/s.

    Whole epochs over everything when they fit (with ``replay_per_epoch``, an epoch is every
    new label plus that many replayed lines); else one epoch over a sample that keeps at least
    a third replay (against forgetting) and fills the rest with new labels.
    """
    capacity = max(1, int(budget_s * rate * SAFETY))
    per_epoch = len(replay) if replay_per_epoch is None else min(len(replay), replay_per_epoch)
    total = len(new) + per_epoch
    if total <= capacity:
        return list(new), list(replay), max(1, min(epochs, capacity // max(total, 1)))
    n_replay = min(per_epoch, max(capacity - len(new), capacity // 3))
    n_new = min(len(new), capacity - n_replay)
    n_replay = min(per_epoch, capacity - n_new)
    return rng.sample(list(new), n_new), rng.sample(list(replay), n_replay), 1


def epoch_stream(
    new: Sequence[Example],
    replay: Sequence[Example],
    epochs: int,
    replay_per_epoch: int | None,
    rng: random.Random,
) -> tuple[list[Example], int]:
    """What one fine-tuning schedule runs over: ``(examples, epochs)``.

    Without ``replay_per_epoch`` (or with more than there is) that is every example for
    ``epochs`` epochs. With it, each epoch is every new label plus a fresh sample of that many
    replayed lines, laid end to end as one long epoch: the new labels are seen ``epochs``
    times, the replay about as often as it needs to be, and one learning-rate schedule covers
    it all.
    """
    if replay_per_epoch is None or replay_per_epoch >= len(replay):
        return [*new, *replay], epochs
    stream: list[Example] = []
    for _ in range(epochs):
        stream += [*new, *rng.sample(list(replay), replay_per_epoch)]
    return stream, 1


def training_config(**values: Any) -> TrainingConfig:
    """A TrainingConfig from ``values``, leaving out options this version of models/ lacks
    (e.g. ``frozen_layers``, ``precision``), so the loop works before and after they land."""
    known = {f.name for f in dataclasses.fields(TrainingConfig)}
    return TrainingConfig(**{k: v for k, v in values.items() if k in known})


def train_within_budget(
    checkpoint: Checkpoint,
    new: Sequence[Example],
    replay: Sequence[Example],
    *,
    budget_s: float,
    epochs: int,
    frozen_layers: int | None,
    seed: int = 1234,
    max_length: int = 128,
    threads: int | None = None,
    progress: bool = False,
    rate: float | None = None,
    tuning: dict[str, Any] | None = None,
    keep_priors: bool = True,
    distillation: Distillation | None = None,
    replay_per_epoch: int | None = None,
) -> BudgetedTraining:
    """Fine-tune ``checkpoint`` in place on ``new`` + ``replay`` and calibrate it.

    ``rate`` (training examples per second measured by an earlier run on this machine) lets the
    run plan ahead: the data is sampled down to what fits the budget and one learning-rate
    schedule covers it, so the model ends fully decayed instead of cut off mid-schedule.
    Calibration refits the temperatures on a held-out tenth of the data; with ``keep_priors``
    (the default) each channel keeps the parent's class prior. Refitting the prior on the label
    stream (financial-news labels are 65 % neutral) measured golden news macro-F1 0.810 → 0.711
    on an untouched model: the prior follows whatever mix the labellers happened to send.
    ``tuning`` overrides further :class:`models.training.TrainingConfig` fields (learning rates).
    ``distillation`` adds the parent's soft answers on the replay to the loss;
    ``replay_per_epoch`` caps the replayed lines each epoch (see :func:`epoch_stream`).
    """
    previous_threads = torch.get_num_threads()
    threads = training_threads(threads)
    torch.set_num_threads(threads)
    try:
        summary = _train(
            checkpoint,
            new,
            replay,
            budget_s,
            epochs,
            frozen_layers,
            seed,
            max_length,
            threads,
            progress,
            rate,
            tuning,
            keep_priors,
            distillation,
            replay_per_epoch,
        )
    finally:
        torch.set_num_threads(previous_threads)
    summary.threads = threads
    summary.replay_per_epoch = replay_per_epoch
    summary.distillation = dataclasses.asdict(distillation) if distillation else None
    return summary


def _train(
    checkpoint: Checkpoint,
    new: Sequence[Example],
    replay: Sequence[Example],
    budget_s: float,
    epochs: int,
    frozen_layers: int | None,
    seed: int,
    max_length: int,
    threads: int,
    progress: bool,
    rate: float | None,
    tuning: dict[str, Any] | None,
    keep_priors: bool,
    distillation: Distillation | None,
    replay_per_epoch: int | None,
) -> BudgetedTraining:
    started = time.perf_counter()
    planned_epochs = epochs
    if rate:
        new, replay, planned_epochs = fit_to_budget(
            new,
            replay,
            budget_s=budget_s,
            rate=rate,
            epochs=epochs,
            rng=random.Random(seed),
            replay_per_epoch=replay_per_epoch,
        )
    extra_loss = None
    if distillation is not None and replay:
        if not distillation.hard_replay:
            replay = [dataclasses.replace(e, sentiment=None, topic=None) for e in replay]
        parent = record_parent(checkpoint, replay, max_length)
        extra_loss = DistillationLoss(parent, distillation.temperature, distillation.weight)
    data = [*new, *replay]
    if frozen_layers is None:  # chosen on what will actually be trained, after any sampling
        frozen_layers = default_frozen_layers(len(data), len(new))
    frozen_layers = min(frozen_layers, encoder_depth(checkpoint.classifier))
    random.Random(seed).shuffle(data)
    held = int(len(data) * CALIBRATION_FRACTION) if len(data) >= 50 else 0
    calibration, train = data[:held], data[held:]
    replayed = set(replay)
    train_new = [e for e in train if e not in replayed]
    train_replay = [e for e in train if e in replayed]
    stream_rng = random.Random(seed + 2)
    frozen = freeze_lower_layers(checkpoint.classifier, frozen_layers)
    common: dict[str, Any] = {
        "seed": seed,
        "max_length": max_length,
        "threads": threads,
        "calibration_fraction": 0.0,
        "frozen_layers": frozen_layers,
        **RETRAIN_TUNING,
        **(tuning or {}),
    }
    deadline = started + budget_s
    losses: list[float] = []
    stopped_early = False

    def watch(step: int, loss: float) -> None:
        losses.append(loss)
        if time.perf_counter() > deadline:
            raise _OutOfTime

    first_epochs = planned_epochs if rate else 1
    try:
        examples, schedule_epochs = epoch_stream(
            train_new, train_replay, first_epochs, replay_per_epoch, stream_rng
        )
        config = training_config(epochs=schedule_epochs, **common)
        fine_tune(checkpoint, examples, (), config, progress, watch, extra_loss)
    except _OutOfTime:
        stopped_early = True
    first_seconds = time.perf_counter() - started
    more = 0
    if not rate:
        more = min(epochs - 1, int((budget_s - first_seconds) // max(first_seconds, 1e-3)))
    if more > 0 and not stopped_early:
        # A second schedule (short warm-up, decay to zero) over the epochs that fit.
        examples, schedule_epochs = epoch_stream(
            train_new, train_replay, more, replay_per_epoch, stream_rng
        )
        config = training_config(epochs=schedule_epochs, **{**common, "seed": seed + 1})
        try:
            fine_tune(checkpoint, examples, (), config, progress, watch, extra_loss)
        except _OutOfTime:
            stopped_early = True
    freeze_lower_layers(checkpoint.classifier, 0)
    checkpoint.classifier.eval()
    summary = BudgetedTraining(
        epochs_run=first_epochs + max(more, 0) if not stopped_early else 0,
        steps=len(losses),
        stopped_early=stopped_early,
        seconds=0.0,
        first_epoch_seconds=round(first_seconds, 2),
        examples=len(train),
        new_used=len(new),
        replay_used=len(replay),
        planned_rate=rate,
        frozen_layers=frozen_layers,
        frozen_parameters=frozen,
        final_loss=round(sum(losses[-10:]) / max(1, len(losses[-10:])), 4),
        config=training_config(epochs=epochs, **common).to_dict(),
    )
    summary.training_seconds = round(time.perf_counter() - started, 2)
    if calibration:
        summary.sentiment_temperature, summary.topic_temperature = calibrate(
            checkpoint.classifier,
            checkpoint.tokenizer,
            checkpoint.taxonomy,
            calibration,
            max_length,
            keep_priors=keep_priors,
        )
    summary.seconds = round(time.perf_counter() - started, 2)
    return summary
