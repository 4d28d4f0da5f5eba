"""The retrain job: gather labels → fine-tune the current version → gate → shadow → register →
promote and announce. One run at a time across processes (:class:`RetrainLock`); every run is
recorded in ``<prefix>-retrain-runs`` and every candidate's decision in ``<prefix>-models`` and in
its own ``version.json``.

A rejected candidate is still registered (never promoted), so its numbers can be inspected with
``moodwatch model show`` and a person may override the gate with ``moodwatch model promote``.
The job promotes only if ``current`` is still the version it was compared with.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from models.checkpoint import save_checkpoint
from models.evaluation import evaluate
from models.examples import Example, seed_golden_set
from models.inference import EngineOptions, InferenceEngine, Prediction
from models.registry import ModelVersion, Registry
from models.taxonomy import Taxonomy
from models.versions import REPORT_FILE, base_checkpoint, headline, load_engine
from moodwatch.settings import Settings
from retrain.announce import announce
from retrain.corpus import LABELS_UNTIL, Corpus, cap_replay, gather, labels_cutoff
from retrain.errors import LockHeld, RetrainError
from retrain.finetune import Distillation, train_within_budget
from retrain.gate import GateDecision, Tolerances, decide, golden_answers
from retrain.history import LoopHistory
from retrain.lock import RetrainLock
from retrain.pseudo import fill_open_heads
from retrain.shadow import recent_messages, shadow_report
from stream.label_index import count_new

log = logging.getLogger(__name__)
Stage = Callable[[str], None]


@dataclass
class RunResult:
    run_id: str
    outcome: str  # promoted | rejected | skipped | failed
    reason: str
    candidate: str | None = None
    previous: str | None = None
    numbers: dict[str, Any] = field(default_factory=dict)
    decision: GateDecision | None = None
    shadow: dict[str, Any] | None = None


class _Recorded:
    """A scorer that keeps its last answers: the gate's paired test compares them."""

    def __init__(self, engine: InferenceEngine) -> None:
        self.engine = engine
        self.answers: list[Prediction] = []

    def predict(
        self, texts: Sequence[str], channels: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        self.answers = self.engine.predict(texts, channels)
        return self.answers


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RetrainJob:
    """Everything one retrain needs, passed in; :meth:`run` does one run."""

    def __init__(
        self,
        settings: Settings,
        client: Elasticsearch,
        registry: Registry,
        taxonomy: Taxonomy,
        golden: list[Example] | None = None,
        announce_updates: bool = True,
    ) -> None:
        self.settings = settings
        self.client = client
        self.registry = registry
        self.taxonomy = taxonomy
        self.golden = golden if golden is not None else seed_golden_set()
        self.announce_updates = announce_updates
        self.prefix = settings.es_index_prefix
        self.history = LoopHistory(client, self.prefix)
        self.tolerances = Tolerances(
            settings.gate_heldout_tolerance,
            settings.gate_slice_tolerance,
            settings.gate_min_slice_examples,
            settings.gate_confidence,
        )

    def labels_since(self) -> datetime | None:
        """Labels after this have not been tried yet: the later of the current version's
        cut-off and the newest run that trained (a rejected run must not retry forever)."""
        cutoffs = [labels_cutoff(self.registry.current()), self.history.last_labels_until()]
        known = [c for c in cutoffs if c is not None]
        return max(known) if known else None

    def pending_labels(self) -> int:
        return count_new(self.client, self.prefix, self.labels_since())

    def run(
        self,
        trigger: str = "manual",
        force: bool = False,
        progress: bool = False,
        stage: Stage | None = None,
    ) -> RunResult:
        """One locked run; raises :class:`LockHeld` if another run holds the lock."""
        self.history.ensure_indices()
        lock = RetrainLock(self.client, self.prefix, self.settings.retrain_lock_ttl_s)
        lock.acquire()  # LockHeld propagates: nothing is recorded for a run that did not start
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        record: dict[str, Any] = {
            "run_id": run_id,
            "trigger": trigger,
            "owner": lock.owner,
            "started_at": _now(),
            "outcome": "running",
            "reason": "",
        }
        try:
            self.history.save_run(record)
            result = self._run(run_id, record, lock, force, progress, stage or (lambda _: None))
        except LockHeld as exc:
            result = RunResult(run_id, "failed", f"lost the retrain lock: {exc}")
        except Exception as exc:  # recorded, then re-raised: a run never fails silently
            record.update(
                outcome="failed", reason=f"{type(exc).__name__}: {exc}", finished_at=_now()
            )
            self.history.save_run(record)
            lock.release()
            raise
        record.update(
            outcome=result.outcome,
            reason=result.reason,
            finished_at=_now(),
            candidate=result.candidate,
            previous=result.previous,
            numbers=result.numbers,
        )
        self.history.save_run(record)
        lock.release()
        log.info("retrain %s: %s: %s", run_id, result.outcome, result.reason)
        return result

    def _run(
        self,
        run_id: str,
        record: dict[str, Any],
        lock: RetrainLock,
        force: bool,
        progress: bool,
        stage: Stage,
    ) -> RunResult:
        settings = self.settings
        current = self.registry.current()
        if current is None:
            raise RetrainError(
                f"no current model in {self.registry.root}: run `moodwatch model train` first"
            )
        since = self.labels_since()
        stage(f"gathering labels stored after {since.isoformat() if since else 'the beginning'}")
        started = time.perf_counter()
        corpus = gather(
            self.client,
            self.prefix,
            since,
            holdout_fraction=settings.retrain_holdout_fraction,
            label_replay=settings.retrain_label_replay,
            seed_replay=settings.retrain_seed_replay,
        )
        numbers: dict[str, Any] = {
            **corpus.numbers,
            "gather_s": round(time.perf_counter() - started, 2),
        }
        record.update(
            previous=current.id,
            labels_since=since.isoformat() if since else None,
            labels_until=corpus.labels_until.isoformat(),
        )
        if not corpus.train or (corpus.new_labels < settings.retrain_min_new_labels and not force):
            record["labels_until"] = None  # nothing was tried: these labels still count as new
            return RunResult(
                run_id,
                "skipped",
                f"{corpus.new_labels} new labels, fewer than {settings.retrain_min_new_labels}"
                if corpus.train
                else "no new labels to train on",
                previous=current.id,
                numbers=numbers,
            )
        lock.renew()
        frozen = settings.retrain_frozen_layers
        stage(
            f"fine-tuning {current.id} on {len(corpus.train)} new + {len(corpus.replay)} replayed "
            f"examples ({'auto' if frozen is None else frozen} lower layers frozen, "
            f"budget {settings.retrain_time_budget_s:.0f} s)"
        )
        options = EngineOptions(
            device="cpu", max_length=settings.max_seq_length, threads=settings.torch_threads
        )
        # Loaded before training: its answers fill the heads the labels leave open, and it is
        # the version the candidate is judged against afterwards.
        current_engine = load_engine(self.registry, current.id, self.taxonomy, options)
        try:
            train, filled = fill_open_heads(
                current_engine, corpus.train, settings.retrain_pseudo_min_confidence
            )
            per_epoch = settings.retrain_replay_per_epoch
            label_replay, seed_replay = cap_replay(
                corpus.label_replay,
                corpus.seed_replay,
                None if per_epoch is None else per_epoch * settings.retrain_epochs,
                seed=len(corpus.train),
            )
            label_replay, filled_replay = fill_open_heads(
                current_engine, label_replay, settings.retrain_pseudo_min_confidence
            )
            numbers["heads_filled_by_parent"] = filled + filled_replay
            checkpoint = base_checkpoint(self.registry, self.taxonomy, None, current.id)
            training = train_within_budget(
                checkpoint,
                train,
                [*label_replay, *seed_replay],
                budget_s=settings.retrain_time_budget_s,
                epochs=settings.retrain_epochs,
                frozen_layers=frozen,
                max_length=settings.max_seq_length,
                threads=settings.retrain_threads,
                progress=progress,
                rate=self.history.last_training_rate(),
                distillation=Distillation(
                    settings.retrain_distill_temperature, settings.retrain_distill_weight
                )
                if settings.retrain_distill_weight > 0
                else None,
                replay_per_epoch=settings.retrain_replay_per_epoch,
            )
        except BaseException:
            current_engine.retire()
            raise
        numbers.update(
            train_s=training.seconds,
            epochs=training.epochs_run,
            examples_per_s=round(training.examples_per_second, 1),
            threads=training.threads,
            frozen_layers=training.frozen_layers,
            trained_new=training.new_used,
            trained_replay=training.replay_used,
            stopped_early=training.stopped_early,
        )
        lock.renew()
        stage("evaluating candidate and current on the golden set and the held-out labels")
        started = time.perf_counter()
        candidate_engine = InferenceEngine(checkpoint, "candidate", self.taxonomy, options)
        candidate_engine.warm_up(rounds=1)
        try:
            now, new = _Recorded(current_engine), _Recorded(candidate_engine)
            golden_now, golden_new = evaluate(now, self.golden), evaluate(new, self.golden)
            answers = golden_answers(self.golden, now.answers, new.answers)
            held_now = evaluate(current_engine, corpus.held_out) if corpus.held_out else None
            held_new = evaluate(candidate_engine, corpus.held_out) if corpus.held_out else None
            decision = decide(golden_now, golden_new, held_now, held_new, self.tolerances, answers)
            numbers["evaluate_s"] = round(time.perf_counter() - started, 2)
            shadow = None
            if decision.promote and settings.shadow_hours > 0:
                stage(f"shadow-scoring the last {settings.shadow_hours:g} h of indexed traffic")
                started = time.perf_counter()
                messages = recent_messages(
                    self.client,
                    f"{self.prefix}-messages",
                    settings.shadow_hours,
                    settings.shadow_max_messages,
                )
                shadow = shadow_report(
                    messages,
                    current.id,
                    current_engine,
                    candidate_engine,
                    settings.shadow_negative_share_tolerance,
                )
                numbers["shadow_s"] = round(time.perf_counter() - started, 2)
        finally:
            candidate_engine.retire()
            current_engine.retire()
        lock.renew()
        stage("registering the candidate")
        version = self._register(
            checkpoint_path_writer=lambda staged: save_checkpoint(checkpoint, staged),
            parent=current.id,
            golden=golden_new,
            corpus=corpus,
            decision=decision,
            shadow=shadow,
            training=training.__dict__ | {"seconds": training.seconds},
            run_id=run_id,
            held_out=held_new,
        )
        numbers.update(self._headline_numbers(golden_now, golden_new, held_now, held_new))
        result = RunResult(
            run_id,
            "promoted" if decision.promote else "rejected",
            decision.reason,
            candidate=version.id,
            previous=current.id,
            numbers=numbers,
            decision=decision,
            shadow=shadow,
        )
        if decision.promote:
            if self.registry.current_id() != current.id:
                result.outcome = "rejected"
                result.reason = (
                    f"current moved to {self.registry.current_id()} during the run; "
                    f"{version.id} was judged against {current.id}"
                )
            else:
                stage(f"promoting {version.id}")
                self.registry.promote(version.id, reason=f"retrain {run_id}: {decision.reason}")
                if self.announce_updates:
                    announce(settings, "promoted", version.id, current.id)
        self.history.save_decision(
            {
                "version": version.id,
                "parent": current.id,
                "run_id": run_id,
                "decided_at": _now(),
                "promoted": result.outcome == "promoted",
                "reason": result.reason,
                "gate": decision.to_dict(),
                "shadow": shadow,
                "held_out": held_new,
                "golden": headline(golden_new),
                "training": version.training,
            }
        )
        return result

    @staticmethod
    def _headline_numbers(
        golden_now: dict[str, Any],
        golden_new: dict[str, Any],
        held_now: dict[str, Any] | None,
        held_new: dict[str, Any] | None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, before, after in (
            ("golden", golden_now, golden_new),
            ("held_out", held_now, held_new),
        ):
            for head in ("sentiment", "topic"):
                if before and after and head in before and head in after:
                    out[f"{name}_{head}_f1"] = [
                        round(before[head]["macro_f1"], 4),
                        round(after[head]["macro_f1"], 4),
                    ]
        return out

    def _register(
        self,
        *,
        checkpoint_path_writer: Callable[[Any], None],
        parent: str,
        golden: dict[str, Any],
        corpus: Corpus,
        decision: GateDecision,
        shadow: dict[str, Any] | None,
        training: dict[str, Any],
        run_id: str,
        held_out: dict[str, Any] | None,
    ) -> ModelVersion:
        meta = {
            "run_id": run_id,
            LABELS_UNTIL: corpus.labels_until.isoformat(),
            "labels_since": corpus.since.isoformat() if corpus.since else None,
            "corpus": corpus.numbers,
            "budgeted": {k: v for k, v in training.items() if k != "config"},
            "config": training.get("config", {}),
            "gate": decision.to_dict(),
            "shadow": shadow,
        }
        with self.registry.stage() as staged:
            checkpoint_path_writer(staged)
            (staged / REPORT_FILE).write_text(json.dumps(golden, indent=2))
            if held_out is not None:
                (staged / "heldout_report.json").write_text(json.dumps(held_out, indent=2))
            verdict = "passed" if decision.promote else "rejected"
            return self.registry.commit(
                staged, parent, headline(golden), meta, f"retrain {run_id}: gate {verdict}"
            )
