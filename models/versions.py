"""Building, judging and loading model versions: the functions the CLI, the scheduler and
the workers share. Everything here works from a notebook with no broker in sight."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from models.encoder import default_encoder_path, encoder_languages, load_encoder
from models.errors import RegistryError
from models.evaluation import evaluate
from models.examples import Example, seed_golden_set, seed_training_set, summarize
from models.inference import EngineOptions, InferenceEngine, resolve_device
from models.registry import ModelVersion, Registry
from models.taxonomy import Taxonomy
from models.training import TrainingConfig, fine_tune, new_classifier, seed_everything

log = logging.getLogger(__name__)
REPORT_FILE = "report.json"


@dataclass(frozen=True)
class BuiltVersion:
    version: ModelVersion
    report: dict[str, Any]
    seconds: float


def base_checkpoint(
    registry: Registry, taxonomy: Taxonomy, encoder_path: Path | None, parent: str | None
) -> Checkpoint:
    """Start from ``parent`` (fine-tune further) or from the plain encoder."""
    if parent is not None:
        version = registry.get(parent)
        registry.verify(version)
        checkpoint = load_checkpoint(version.path)
        checkpoint.taxonomy = taxonomy
        return checkpoint
    encoder, tokenizer = load_encoder(encoder_path)
    return Checkpoint(
        new_classifier(encoder, tokenizer, taxonomy),
        tokenizer,
        taxonomy,
        encoder_languages(encoder_path),
    )


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a version lists in ``moodwatch model list``."""
    out: dict[str, Any] = {"golden_examples": report["examples"]}
    for head in ("sentiment", "topic"):
        if head in report:
            out[f"{head}_macro_f1"] = round(report[head]["macro_f1"], 4)
            out[f"{head}_accuracy"] = round(report[head]["accuracy"], 4)
            out[f"{head}_ece"] = round(report[head]["ece"], 4)
    return out


def build_version(
    registry: Registry,
    taxonomy: Taxonomy,
    new: Sequence[Example],
    replay: Sequence[Example] = (),
    *,
    parent: str | None = None,
    encoder_path: Path | None = None,
    golden: Sequence[Example] | None = None,
    config: TrainingConfig | None = None,
    progress: bool = True,
    notes: str = "",
    languages: Sequence[str] | None = None,
) -> BuiltVersion:
    """Fine-tune, evaluate on the golden set and register a new (not yet current) version.

    ``languages`` overrides what the version declares it can score (default: the parent's,
    or what the encoder's model card declares, else ``["en"]``).
    """
    started = time.perf_counter()
    config = config or TrainingConfig()
    seed_everything(config.seed)  # new heads are initialised randomly: seed before building
    checkpoint = base_checkpoint(registry, taxonomy, encoder_path, parent)
    if languages is not None:
        checkpoint.languages = list(languages)
    result = fine_tune(checkpoint, new, replay, config, progress=progress)
    engine = InferenceEngine(checkpoint, "candidate", taxonomy, EngineOptions(device="cpu"))
    engine.warm_up(rounds=1)
    report = evaluate(engine, golden if golden is not None else seed_golden_set())
    engine.retire()  # frees its pass threads: a long-lived trainer builds many of these
    training = {
        "config": config.to_dict(),
        "new": summarize(new),
        "replay": summarize(replay),
        "trained_on": result.trained_on,
        "calibrated_on": result.calibrated_on,
        "final_loss": round(sum(result.losses[-10:]) / max(1, len(result.losses[-10:])), 4),
        "sentiment_temperature": result.sentiment_temperature,
        "topic_temperature": result.topic_temperature,
        "sentiment_calibration": result.channel_calibration,
        "languages": checkpoint.languages,
        "fine_tune_seconds": round(result.seconds, 1),
        "examples_per_second": round(result.examples_per_second, 1),
        "encoder": str(encoder_path or default_encoder_path())
        if parent is None
        else f"from {parent}",
    }
    with registry.stage() as staged:
        save_checkpoint(checkpoint, staged)
        (staged / REPORT_FILE).write_text(json.dumps(report, indent=2))
        version = registry.commit(staged, parent, headline(report), training, notes)
    return BuiltVersion(version, report, time.perf_counter() - started)


def ensure_default_version(
    registry: Registry, taxonomy: Taxonomy, encoder_path: Path | None = None, progress: bool = True
) -> ModelVersion:
    """The version to serve; on an empty registry, build one from the seed data first.

    This is what makes a fresh install work out of the box (about a minute or two on CPU).
    """
    current = registry.current()
    if current is not None:
        return current
    log.info(
        "the model registry at %s is empty: training the default model on the seed data",
        registry.root,
    )
    built = build_version(
        registry,
        taxonomy,
        seed_training_set(),
        encoder_path=encoder_path,
        progress=progress,
        notes="default model trained on the bundled seed data",
    )
    return registry.promote(built.version.id, reason="default model for an empty registry")


def load_engine(
    registry: Registry,
    version_id: str | None = None,
    taxonomy: Taxonomy | None = None,
    options: EngineOptions | None = None,
) -> InferenceEngine:
    """Verify, load and warm up a version (the current one by default) for serving."""
    version = registry.get(version_id) if version_id else registry.current()
    if version is None:
        raise RegistryError(f"no current model in {registry.root}; run `moodwatch model train`")
    registry.verify(version)
    options = options or EngineOptions()
    checkpoint = load_checkpoint(version.path, resolve_device(options.device))
    engine = InferenceEngine(checkpoint, version.id, taxonomy, options)
    engine.warm_up()
    return engine
