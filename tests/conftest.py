"""Shared fixtures. Integration fixtures (real Kafka and Elasticsearch) live in
tests/integration/conftest.py; everything here runs without services."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# Tests must never reach a model hub: set before transformers is first imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

from models.examples import Example
from models.inference import EngineOptions, InferenceEngine
from models.registry import Registry
from models.taxonomy import Taxonomy, load_taxonomy
from models.training import TrainingConfig
from models.versions import BuiltVersion, build_version, ensure_default_version, load_engine

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No MOODWATCH_* variables and no .env file leak into a settings test."""
    for name in list(os.environ):
        if name.startswith("MOODWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


# --- a small trained model (about ten seconds on CPU), shared by model and stream tests ---

TINY_TRAIN = [
    Example("my card was charged twice for one order", "chat", "negative", "billing_payments"),
    Example("thanks, the invoice is sorted now", "chat", "positive", "billing_payments"),
    Example("the parcel never arrived and nobody answers", "chat", "negative", "delivery"),
    Example("package came a day early, lovely", "chat", "positive", "delivery"),
    Example("where can I see the tracking number?", "chat", "neutral", "delivery"),
    Example("I can't log in, the code never comes", "chat", "negative", "account_login"),
    Example("Shares of Nordvik slid 6% after a profit warning", "news", "negative", "markets"),
    Example("Bond yields were unchanged in quiet trading", "news", "neutral", "markets"),
    Example("Halden Foods beat forecasts and raised its dividend", "news", "positive", "companies"),
    Example("Parliament will vote on the budget on Tuesday", "news", "neutral", "economy_policy"),
]
TINY_GOLDEN = [
    Example("charged two times, please fix", "chat", "negative", "billing_payments"),
    Example("Stocks rallied to a record close", "news", "positive", "markets"),
    Example("The courier was fast, thank you", "chat", "positive", "delivery"),
    Example("The ministry publishes its budget next week", "news", "neutral", "economy_policy"),
]


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Registry:
    registry = Registry(tmp_path_factory.mktemp("registry"))
    built = _build(registry, taxonomy)
    registry.promote(built.version.id, reason="test")
    return registry


def _build(registry: Registry, taxonomy: Taxonomy, seed: int = 7) -> BuiltVersion:
    config = TrainingConfig(epochs=3, batch_size=8, seed=seed, calibration_fraction=0.0)
    return build_version(
        registry, taxonomy, TINY_TRAIN * 3, golden=TINY_GOLDEN, config=config, progress=False
    )


@pytest.fixture(scope="session")
def tiny_engine(tiny_registry: Registry) -> InferenceEngine:
    options = EngineOptions(device="cpu", token_budget=256, max_batch=8)
    return load_engine(tiny_registry, options=options)


@pytest.fixture
def build_tiny(taxonomy: Taxonomy):  # type: ignore[no-untyped-def]
    def build(registry: Registry, seed: int = 7) -> BuiltVersion:
        return _build(registry, taxonomy, seed)

    return build


# --- the default model (a few minutes on CPU), cached under var/test-cache ------------------


def _default_model_fingerprint() -> str:
    """Everything that shapes the default version: model code, seed data, taxonomy."""
    digest = hashlib.sha256()
    models = REPO / "models"
    inputs = sorted(models.rglob("*.py")) + sorted(models.rglob("*.jsonl"))
    for path in [*inputs, models / "taxonomy.yaml"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def default_registry() -> Registry:
    """The default version trained on the bundled seed data, as `make run` builds it; cached
    across runs by fingerprint. Read-only: copy it before promoting anything into it."""
    registry = Registry(REPO / "var" / "test-cache" / f"default-{_default_model_fingerprint()}")
    ensure_default_version(registry, load_taxonomy(), progress=False)
    return registry

