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


def test_class_weighting_lifts_the_rare_sentiment_and_smoothing_softens_the_loss() -> None:
    from models.examples import Example
    from models.training import IGNORE, _loss, _sentiment_weights

    examples = [Example("a", "chat", "negative")] * 6 + [Example("b", "chat", "neutral")] * 2
    examples += [Example("c", "chat", "positive")] * 4 + [Example("d", "chat")]
    weights = _sentiment_weights(examples, power=1.0)
    negative, neutral, positive = weights.tolist()
    assert neutral > positive > negative  # rarer class, larger weight
    assert abs(weights.mean().item() - 1.0) < 1e-6
    assert torch.equal(_sentiment_weights(examples, power=0.0), torch.ones(3))

    confident = torch.tensor([[9.0, -9.0, -9.0]])  # sure, and right
    truth, no_topic = torch.tensor([0]), torch.tensor([IGNORE])
    topic = torch.zeros(1, 2)
    plain = _loss(confident, truth, topic, no_topic, 1.0)
    smoothed = _loss(confident, truth, topic, no_topic, 1.0, label_smoothing=0.1)
    assert smoothed > plain  # smoothing penalises certainty even when it is right
