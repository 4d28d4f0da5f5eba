"""Per-channel sentiment calibration and "other" as a zero-shot decision."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.calibration import ChannelCalibration, fit_channel_calibration
from models.checkpoint import load_checkpoint
from models.inference import EngineOptions, InferenceEngine
from models.registry import Registry
from models.taxonomy import OTHER, Taxonomy, Topic


def test_a_channel_that_is_mostly_neutral_gets_a_neutral_prior_and_a_cooler_temperature() -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.tensor([1] * 140 + [0] * 30 + [2] * 30)  # 70 % neutral, like news
    # An over-confident model that has no idea of the prior: it favours the truth a bit,
    # with very large logits.
    logits = torch.randn(len(labels), 3, generator=generator) * 4
    logits[torch.arange(len(labels)), labels] += 3
    calibration = fit_channel_calibration(logits, labels)
    assert calibration.temperature > 1.0
    assert calibration.bias[1] > calibration.bias[0]
    assert calibration.bias[1] > calibration.bias[2]
    before = F.cross_entropy(logits, labels)
    after = torch.from_numpy(calibration.apply(logits.numpy()))
    assert F.cross_entropy(after, labels) < before
    assert ChannelCalibration.from_dict(calibration.to_dict()).temperature == round(
        calibration.temperature, 5
    )


def test_a_kept_prior_stays_and_only_the_temperature_is_fitted() -> None:
    generator = torch.Generator().manual_seed(0)
    labels = torch.tensor([1] * 140 + [0] * 30 + [2] * 30)  # a neutral-heavy label stream
    logits = torch.randn(len(labels), 3, generator=generator) * 4
    logits[torch.arange(len(labels)), labels] += 3
    free = fit_channel_calibration(logits, labels)
    kept = fit_channel_calibration(logits, labels, bias=(0.2, -0.1, -0.1))
    assert free.bias[1] > 0.3  # left free, the prior follows the stream's mix
    assert kept.bias == pytest.approx((0.2, -0.1, -0.1))
    assert kept.temperature > 1.0  # the over-confident logits are still cooled
    cooled = torch.from_numpy(kept.apply(logits.numpy()))
    assert F.cross_entropy(cooled, labels) < F.cross_entropy(logits, labels)


def _bank_engine(registry: Registry, threshold: float) -> InferenceEngine:
    version = registry.current()
    assert version is not None
    checkpoint = load_checkpoint(version.path)
    checkpoint.classifier.zero_shot_other_threshold = threshold
    base = checkpoint.taxonomy
    taxonomy = Taxonomy(
        (
            *base.topics,
            Topic("bank", "card_delivery", "when will my new card arrive in the post"),
            Topic("bank", "pin", "forgot my PIN or passcode, PIN blocked"),
            Topic("bank", OTHER, "anything else"),
        )
    )
    engine = InferenceEngine(checkpoint, version.id, taxonomy, EngineOptions(device="cpu"))
    engine.warm_up(rounds=1)
    return engine


TEXTS = ["My new card still has not arrived", "I forgot my PIN", "What is the weather like?"]


def test_other_is_chosen_only_when_no_named_topic_is_close_enough(tiny_registry: Registry) -> None:
    never = _bank_engine(tiny_registry, threshold=-1.0)
    assert never.other_is_decision == {"bank"}
    named = never.predict(TEXTS, ["bank"] * 3)
    assert all(p.topic in ("card_delivery", "pin") for p in named)
    assert all(OTHER not in p.topic_probs for p in named)  # not a competing description
    always = _bank_engine(tiny_registry, threshold=1.01)
    assert [p.topic for p in always.predict(TEXTS, ["bank"] * 3)] == [OTHER] * 3
    # Trained channels keep their learned "other" topic.
    assert "chat" not in always.other_is_decision
    assert np.isclose(
        sum(always.predict(TEXTS[:1], ["chat"])[0].topic_probs.values()), 1, atol=1e-3
    )
