"""The evaluation gate's decisions on hand-made reports (the shape models.evaluation returns)."""

from __future__ import annotations

from typing import Any

from retrain.gate import Tolerances, decide

TOL = Tolerances(heldout=0.01, slice=0.02, min_slice_examples=10)


def heads(sentiment: float, topic: float | None = None, n: int = 50) -> dict[str, Any]:
    out: dict[str, Any] = {"sentiment": {"macro_f1": sentiment, "n": n}}
    if topic is not None:
        out["topic"] = {"macro_f1": topic, "n": n}
    return out


def golden(chat: float, news: float, delivery: float = 0.7, delivery_n: int = 20) -> dict[str, Any]:
    return {
        **heads((chat + news) / 2, 0.6, 100),
        "slices": {
            "channel": {"chat": heads(chat, 0.6), "news": heads(news, 0.6)},
            "topic": {"chat/delivery": heads(delivery, None, delivery_n)},
        },
    }


def test_better_held_out_and_steady_golden_promotes() -> None:
    decision = decide(golden(0.70, 0.60), golden(0.71, 0.59), heads(0.50), heads(0.62), TOL)
    assert decision.promote
    assert "held-out sentiment 0.500 → 0.620" in decision.reason
    assert not decision.failed


def test_a_tie_within_tolerance_still_promotes() -> None:
    decision = decide(golden(0.7, 0.6), golden(0.7, 0.6), heads(0.60), heads(0.595), TOL)
    assert decision.promote


def test_worse_held_out_rejects() -> None:
    decision = decide(golden(0.7, 0.6), golden(0.7, 0.6), heads(0.60), heads(0.55), TOL)
    assert not decision.promote
    assert [c.name for c in decision.failed] == ["held-out sentiment"]
    assert "0.600 → 0.550" in decision.reason


def test_one_golden_slice_dropping_past_tolerance_rejects_despite_held_out_gain() -> None:
    decision = decide(golden(0.70, 0.60), golden(0.72, 0.55), heads(0.40), heads(0.90), TOL)
    assert not decision.promote
    assert [c.name for c in decision.failed] == ["golden channel news sentiment"]
    assert "drops more than the tolerance 0.020" in decision.reason


def test_a_drop_equal_to_the_tolerance_passes() -> None:
    decision = decide(golden(0.70, 0.60), golden(0.70, 0.58), heads(0.4), heads(0.5), TOL)
    assert decision.promote


def test_small_slices_are_reported_but_do_not_gate() -> None:
    before = golden(0.7, 0.6, delivery=0.9, delivery_n=5)
    after = golden(0.7, 0.6, delivery=0.2, delivery_n=5)
    decision = decide(before, after, heads(0.4), heads(0.5), TOL)
    assert decision.promote
    small = next(c for c in decision.checks if c.name == "golden topic chat/delivery sentiment")
    assert not small.gating
    assert small.delta < -0.5


def test_no_held_out_labels_rejects() -> None:
    decision = decide(golden(0.7, 0.6), golden(0.8, 0.7), None, None, TOL)
    assert not decision.promote
    assert "no held-out" in decision.reason


def test_the_decision_serializes_with_every_number() -> None:
    decision = decide(golden(0.7, 0.6), golden(0.7, 0.5), heads(0.4), heads(0.5), TOL)
    stored = decision.to_dict()
    assert stored["promote"] is False
    news = next(c for c in stored["checks"] if c["name"] == "golden channel news sentiment")
    assert news["delta"] == -0.1
    assert news["current"] == 0.6
