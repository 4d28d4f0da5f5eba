"""Shadow report: disagreement with the current version and negative share per group."""

from __future__ import annotations

from collections.abc import Sequence

from models.inference import Prediction
from retrain.shadow import Indexed, shadow_report


class Says:
    """A scorer that answers from a text → sentiment table, and counts what it was asked."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.asked: list[str] = []

    def predict(
        self, texts: Sequence[str], channels: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        self.asked += texts
        return [Prediction(self.table[t], 0.9, {}, "delivery", 0.9, {}, "x") for t in texts]


def test_disagreement_and_a_flagged_group() -> None:
    messages = [
        Indexed("late again", "chat", "negative", "delivery", "v0002"),
        Indexed("fine", "chat", "neutral", "delivery", "v0002"),
        Indexed("love it", "chat", "positive", "delivery", "v0001"),  # scored by an older one
        Indexed("shares up", "news", "positive", "markets", "v0002"),
    ]
    current = Says({"love it": "negative"})
    candidate = Says(
        {
            "late again": "negative",
            "fine": "negative",
            "love it": "positive",
            "shares up": "positive",
        }
    )
    report = shadow_report(messages, "v0002", current, candidate, tolerance=0.05)

    assert current.asked == ["love it"]  # only the stale document is scored again
    assert report["rescored_with_current"] == 1
    assert report["sentiment_disagreement"] == 0.5  # "fine" and "love it" change
    chat = report["groups"]["channel chat"]
    assert (chat["current_negative_share"], chat["candidate_negative_share"]) == (0.6667, 0.6667)
    assert report["groups"]["channel news"]["changed"] is False
    assert report["alert_relevant_change"] is False


def test_a_negative_share_shift_is_alert_relevant() -> None:
    messages = [Indexed(f"m{i}", "chat", "neutral", None, "v1") for i in range(10)]
    candidate = Says({f"m{i}": "negative" if i < 3 else "neutral" for i in range(10)})
    report = shadow_report(messages, "v1", Says({}), candidate, tolerance=0.05)
    assert report["groups"]["channel chat"]["candidate_negative_share"] == 0.3
    assert report["alert_relevant_change"] is True


def test_no_traffic_is_reported_not_failed() -> None:
    assert shadow_report([], "v1", Says({}), Says({}), 0.05)["messages"] == 0
