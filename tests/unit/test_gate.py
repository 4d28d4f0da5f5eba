"""The evaluation gate's decisions on hand-made reports (the shape models.evaluation returns)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.evaluation import evaluate
from models.examples import Example
from models.inference import Prediction
from retrain.gate import Check, GateDecision, Tolerances, decide, golden_answers
from retrain.paired import delta_upper_bound, mcnemar_p

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


# --- the paired test: a drop must be beyond tolerance *and* beyond noise --------------------

CYCLE = ("negative", "neutral", "positive")


def golden_set() -> list[Example]:
    """30 chat/delivery, 60 chat/refunds and 90 news/markets examples, balanced sentiment."""
    rows = [("chat", "delivery", 30), ("chat", "refunds", 60), ("news", "markets", 90)]
    return [
        Example(f"{channel} {topic} {i}", channel, CYCLE[i % 3], topic)
        for channel, topic, n in rows
        for i in range(n)
    ]


def answers(examples: list[Example], wrong: set[int]) -> list[Prediction]:
    """Right on every example except the indices in ``wrong`` (sentiment shifted by one)."""
    out = []
    for i, e in enumerate(examples):
        sentiment = e.sentiment or "neutral"
        if i in wrong:
            sentiment = CYCLE[(CYCLE.index(sentiment) + 1) % 3]
        out.append(Prediction(sentiment, 0.9, {}, e.topic or "other", 0.9, {}, "v"))
    return out


class Answered:
    def __init__(self, predictions: list[Prediction]) -> None:
        self.predictions = predictions

    def predict(
        self, texts: Sequence[str], channels: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        return self.predictions


def judge(wrong_now: set[int], wrong_then: set[int], paired: bool) -> GateDecision:
    examples = golden_set()
    now, then = answers(examples, wrong_now), answers(examples, wrong_then)
    given = golden_answers(examples, now, then) if paired else None
    return decide(
        evaluate(Answered(now), examples),
        evaluate(Answered(then), examples),
        heads(0.5),
        heads(0.6),
        TOL,
        given,
    )


def delivery(decision: GateDecision) -> Check:
    return next(c for c in decision.checks if c.name == "golden topic chat/delivery sentiment")


NOISE = ({3, 40}, {3, 4, 40})  # the candidate gets one more of the 30 delivery examples wrong


def test_one_flipped_answer_in_a_small_slice_is_noise_and_does_not_reject() -> None:
    decision = judge(*NOISE, paired=True)
    check = delivery(decision)
    assert check.delta < -TOL.slice  # past the tolerance on the point estimate...
    assert check.upper_bound is not None and check.upper_bound >= 0  # ...but not beyond noise
    assert check.passed and decision.promote, decision.reason
    assert "chat/delivery" in decision.reason


def test_without_the_answers_the_same_flip_rejects_on_the_point_estimate() -> None:
    decision = judge(*NOISE, paired=False)
    assert not decision.promote
    assert "golden topic chat/delivery sentiment" in [c.name for c in decision.failed]


def test_a_real_drop_in_a_small_slice_rejects_with_its_bound() -> None:
    decision = judge({40}, {40, *range(0, 30, 3)}, paired=True)  # 10 of 30 now wrong
    assert not decision.promote
    check = delivery(decision)
    assert not check.passed
    assert check.upper_bound is not None and check.upper_bound < 0
    assert "upper bound of the change" in decision.reason


def test_slices_under_the_minimum_never_gate_even_when_wrecked() -> None:
    small = Tolerances(heldout=0.01, slice=0.02, min_slice_examples=31)
    examples = golden_set()
    now, then = answers(examples, set()), answers(examples, set(range(30)))
    decision = decide(
        evaluate(Answered(now), examples),
        evaluate(Answered(then), examples),
        heads(0.5),
        heads(0.6),
        small,
        golden_answers(examples, now, then),
    )
    assert not delivery(decision).gating
    assert delivery(decision).passed
    # the wreck still shows in the larger chat and overall slices, which do gate
    assert {"golden channel chat sentiment", "golden sentiment"} <= {
        c.name for c in decision.failed
    }


def test_the_bound_is_reproducible_and_zero_for_identical_answers() -> None:
    truth = [CYCLE[i % 3] for i in range(60)]
    worse = [CYCLE[(i + 1) % 3] if i < 20 else t for i, t in enumerate(truth)]
    assert delta_upper_bound(truth, truth, truth) == 0.0
    first = delta_upper_bound(truth, truth, worse)
    assert first == delta_upper_bound(truth, truth, worse)
    assert first < -0.2  # a third wrong: macro-F1 falls from 1 to ~0.67, bound well below 0
    assert delta_upper_bound(truth, worse, truth) > 0.2


def test_three_lost_examples_out_of_28_are_not_enough_for_mcnemar() -> None:
    truth = [CYCLE[i % 3] for i in range(28)]
    worse = [CYCLE[(i + 1) % 3] if i < 3 else t for i, t in enumerate(truth)]
    assert delta_upper_bound(truth, truth, worse) < 0  # the bootstrap alone would fail it
    assert mcnemar_p(truth, truth, worse) == 0.125
    assert mcnemar_p(truth, truth, truth) == 1.0
    five = [CYCLE[(i + 1) % 3] if i < 5 else t for i, t in enumerate(truth)]
    assert mcnemar_p(truth, truth, five) == 1 / 32


def test_a_large_slice_is_judged_by_the_bootstrap() -> None:
    decision = judge(set(), set(range(90, 180, 9)), paired=True)  # 10 news answers newly wrong
    overall = next(c for c in decision.checks if c.name == "golden sentiment")
    assert overall.n >= TOL.large_slice
    assert overall.delta < -TOL.slice
    assert overall.upper_bound is not None and overall.upper_bound < 0
    assert not overall.passed and not decision.promote
