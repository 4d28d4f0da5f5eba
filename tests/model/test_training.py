"""Training is reproducible on CPU and what it registers describes itself."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from models.registry import Registry


def test_same_seed_same_weights_and_report(tmp_path: Path, build_tiny) -> None:  # type: ignore[no-untyped-def]
    first = build_tiny(Registry(tmp_path / "a"), seed=3)
    second = build_tiny(Registry(tmp_path / "b"), seed=3)
    a = load_file(str(first.version.path / "weights.safetensors"))
    b = load_file(str(second.version.path / "weights.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first.report == second.report
    assert first.version.checksum == second.version.checksum


def test_version_records_training_summary_and_metrics(tiny_registry: Registry) -> None:
    version = tiny_registry.current()
    assert version is not None
    assert version.training["new"]["examples"] == 30
    assert version.training["config"]["seed"] == 7
    assert set(version.metrics) >= {"sentiment_macro_f1", "topic_macro_f1", "sentiment_ece"}
    assert (version.path / "report.json").is_file()
    assert (version.path / "taxonomy.yaml").is_file()
