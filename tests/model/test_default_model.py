"""The default model, trained on the bundled seed data, meets its quality targets on the
held-out golden set. Building it takes a few minutes on CPU, so the registry is cached under
var/test-cache keyed by everything that shapes it (seed data, taxonomy, model code)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.evaluation import evaluate
from models.examples import seed_golden_set, seed_training_set
from models.inference import EngineOptions, cpu_has_native_bf16
from models.registry import Registry
from models.versions import load_engine

REPO = Path(__file__).resolve().parents[2]

@pytest.mark.slow
def test_golden_and_training_sets_never_overlap() -> None:
    train = {e.text.strip().lower() for e in seed_training_set()}
    golden = [e.text.strip().lower() for e in seed_golden_set()]
    assert len(seed_training_set()) >= 800
    assert len(golden) >= 300
    assert not train.intersection(golden)


@pytest.mark.slow
def test_default_model_meets_golden_targets(default_registry: Registry) -> None:
    engine = load_engine(default_registry, options=EngineOptions(device="cpu"))
    report = evaluate(engine, seed_golden_set())
    assert report["sentiment"]["macro_f1"] >= 0.85, report["sentiment"]
    assert report["topic"]["macro_f1"] >= 0.80, report["topic"]
    assert report["sentiment"]["ece"] <= 0.10  # calibrated: confidence means what it says
    for channel in ("news", "chat"):
        assert report["slices"]["channel"][channel]["sentiment"]["macro_f1"] >= 0.75, channel
    version = default_registry.current()
    assert version is not None
    assert version.metrics["sentiment_macro_f1"] == pytest.approx(
        report["sentiment"]["macro_f1"], abs=1e-3
    )


@pytest.mark.slow
@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16 matmuls")
def test_bf16_scores_the_golden_set_like_fp32(default_registry: Registry) -> None:
    """``auto`` serves bf16 on such CPUs; it may not cost more than a point of macro-F1."""
    golden = seed_golden_set()
    fp32 = evaluate(
        load_engine(default_registry, options=EngineOptions("cpu", precision="fp32")), golden
    )
    engine = load_engine(default_registry, options=EngineOptions("cpu", precision="auto"))
    assert engine.precision == "bf16"
    bf16 = evaluate(engine, golden)
    for head in ("sentiment", "topic"):
        assert bf16[head]["macro_f1"] >= fp32[head]["macro_f1"] - 0.01, head
        assert abs(bf16[head]["ece"] - fp32[head]["ece"]) <= 0.02, head


SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no ../shared/data (public benchmark sets)")
def test_quality_bench_slice_on_public_data(
    default_registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """A small slice of bench/model_quality.py, so a regression on real text shows in CI.

    Floors sit well under the full-set targets (a 150-row slice is noisy) and above VADER
    where the issue measured the old model at or below it.
    """
    from bench.model_quality import main

    assert main(["--registry", str(default_registry.root), "--limit", "150"]) == 0
    report = json.loads(capsys.readouterr().out.split("\n| set |")[0])
    sentiment = report["sentiment"]
    assert sentiment["sst2_dev"]["model"]["binary"]["macro_f1"] >= 0.72
    assert sentiment["uci_sentences"]["model"]["binary"]["macro_f1"] >= 0.78
    assert sentiment["twitter_financial_news"]["model"]["macro_f1"] >= 0.45
    assert sentiment["tweeteval_sentiment"]["model"]["macro_f1"] >= 0.45
    assert report["golden"]["sentiment"]["macro_f1"] >= 0.80
