"""Spike, share, volume and drift math on hand-made window numbers."""

from __future__ import annotations

import math

import pytest

from alerts.conditions import judge, spike_numbers
from alerts.rules import AlertRule
from alerts.windows import GroupStats, WindowStats


def rule(condition: dict[str, object]) -> AlertRule:
    return AlertRule.model_validate({"name": "r", "condition": condition})


def window(count: int, negative: float, confidence: float = 0.8) -> WindowStats:
    return WindowStats(
        count=count,
        negative=negative,
        confidence_sum=confidence * count,
        labels={"negative": int(negative), "neutral": count - int(negative)},
    )


def calm(n: int = 12) -> tuple[WindowStats, ...]:
    return tuple(window(100, 10) for _ in range(n))


SPIKE = {"type": "spike", "min_ratio": 2.0, "min_z": 3.0, "min_count": 20, "min_negative": 5}


def test_share_spike_numbers_are_ratio_and_binomial_z() -> None:
    stats = GroupStats("g", window(100, 40), calm())
    numbers = spike_numbers("share", stats)
    assert numbers["baseline_mean"] == pytest.approx(0.1)
    assert numbers["ratio"] == pytest.approx(4.0)
    # flat baseline: the spread is the binomial noise sqrt(0.1 * 0.9 / 100) = 0.03
    assert numbers["z"] == pytest.approx((0.4 - 0.1) / 0.03, rel=1e-3)


def test_a_negative_burst_breaches_a_spike() -> None:
    verdict = judge(rule(SPIKE), GroupStats("g", window(100, 40), calm()))
    assert verdict.status == "breach"


def test_zero_to_two_messages_is_not_a_spike() -> None:
    quiet = tuple(window(100, 0) for _ in range(12))
    verdict = judge(rule(SPIKE), GroupStats("g", window(2, 2), quiet))
    assert verdict.status == "clear"
    assert "below floors" in verdict.reason


def test_no_alert_while_the_baseline_is_too_thin() -> None:
    thin = (window(3, 0), *(WindowStats() for _ in range(11)))
    verdict = judge(rule(SPIKE), GroupStats("g", window(100, 90), thin))
    assert verdict.status == "not_evaluable"


def test_from_zero_negatives_the_ratio_is_infinite_and_passes() -> None:
    none_negative = tuple(window(100, 0) for _ in range(12))
    verdict = judge(rule(SPIKE), GroupStats("g", window(100, 30), none_negative))
    assert verdict.numbers["ratio"] is None
    assert verdict.status == "breach"


def test_combine_any_needs_one_test_all_needs_both() -> None:
    noisy = tuple(window(100, n) for n in (0, 40) * 6)  # mean 0.2, wide spread
    stats = GroupStats("g", window(100, 45), noisy)  # ratio 2.25 ✓, z small ✗
    assert judge(rule(SPIKE), stats).status == "clear"
    assert judge(rule({**SPIKE, "combine": "any"}), stats).status == "breach"


def test_volume_spike_uses_negative_counts_with_poisson_noise() -> None:
    numbers = spike_numbers("volume", GroupStats("g", window(100, 40), calm()))
    assert numbers["metric_current"] == 40
    assert numbers["z"] == pytest.approx((40 - 10) / math.sqrt(10), rel=1e-3)


def test_negative_share_needs_min_count() -> None:
    share = rule({"type": "negative_share", "above": 0.5, "min_count": 5})
    assert judge(share, GroupStats("g", window(4, 3), ())).status == "clear"
    assert judge(share, GroupStats("g", window(6, 4), ())).status == "breach"


def test_volume_below_catches_a_feed_that_went_silent() -> None:
    silent = rule({"type": "volume", "below": 1})
    assert judge(silent, GroupStats("g", WindowStats(), calm(3))).status == "breach"
    assert judge(silent, GroupStats("g", window(3, 0), calm(3))).status == "clear"
    never_used = GroupStats("g", WindowStats(), (WindowStats(),) * 3)
    assert judge(silent, never_used).status == "clear"
    # a firing group whose messages left the whole range is still silent, not resolved
    assert judge(silent, GroupStats.gone("g")).status == "breach"
    anyway = rule({"type": "volume", "below": 1, "require_history": False})
    assert judge(anyway, never_used).status == "breach"


def test_model_drift_on_confidence_drop_and_mix_shift() -> None:
    drift = rule(
        {
            "type": "model_drift",
            "max_confidence_drop": 0.1,
            "max_mix_shift": 0.3,
            "min_count": 10,
            "min_baseline_count": 50,
        }
    )
    baseline = calm(6)
    assert judge(drift, GroupStats("g", window(100, 10, 0.8), baseline)).status == "clear"
    unsure = judge(drift, GroupStats("g", window(100, 10, 0.6), baseline))
    assert unsure.status == "breach" and "confidence fell" in unsure.reason
    shifted = judge(drift, GroupStats("g", window(100, 60, 0.8), baseline))
    assert shifted.status == "breach" and "class mix" in shifted.reason
