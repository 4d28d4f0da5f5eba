"""Distillation keeps a candidate answering like its parent on the replay while it learns a
labelling convention that contradicts the parent."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from models.checkpoint import Checkpoint, load_checkpoint
from models.examples import Example
from models.registry import Registry
from retrain.distill import record_parent
from retrain.finetune import Distillation, train_within_budget
from tests.conftest import TINY_TRAIN

# A new labeller who calls every headline neutral (the financial-news convention, overdone).
NEW_CONVENTION = [
    Example(f"{text} ({n})", "news", "neutral", None)
    for n in range(4)
    for text in (
        "Shares of Nordvik slid after a profit warning",
        "Halden Foods beat forecasts and raised its dividend",
        "Markets tumbled as the central bank surprised traders",
        "The chipmaker's record quarter lifted its stock",
    )
]


def drift_from_parent(
    parent: Checkpoint, candidate: Checkpoint, replay: Sequence[Example]
) -> float:
    """Mean KL(parent ‖ candidate) of the sentiment head on the replayed lines."""
    before = record_parent(parent, replay, 64)
    after = record_parent(candidate, replay, 64)
    return sum(
        F.kl_div(
            F.log_softmax(after[e].sentiment, -1),
            F.softmax(before[e].sentiment, -1),
            reduction="sum",
        ).item()
        for e in replay
    ) / len(replay)


def fine_tuned(registry: Registry, distillation: Distillation | None) -> Checkpoint:
    version = registry.current()
    assert version is not None
    checkpoint = load_checkpoint(version.path)
    train_within_budget(
        checkpoint,
        NEW_CONVENTION,
        TINY_TRAIN,
        budget_s=600,
        epochs=3,
        frozen_layers=4,
        threads=1,
        tuning={"head_lr": 2e-3, "batch_size": 8},
        distillation=distillation,
    )
    return checkpoint


def test_distilling_the_parent_on_the_replay_keeps_its_answers_closer(
    tiny_registry: Registry,
) -> None:
    version = tiny_registry.current()
    assert version is not None
    parent = load_checkpoint(version.path)
    torch.manual_seed(0)

    plain = drift_from_parent(parent, fine_tuned(tiny_registry, None), TINY_TRAIN)
    distilled = drift_from_parent(
        parent, fine_tuned(tiny_registry, Distillation(temperature=2.0, weight=3.0)), TINY_TRAIN
    )

    assert plain > 0.0
    assert distilled < 0.8 * plain, (plain, distilled)
