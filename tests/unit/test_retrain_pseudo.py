"""The current version's confident answers fill the heads a label leaves open."""

from __future__ import annotations

from collections.abc import Sequence

from models.examples import Example
from models.inference import Prediction
from retrain.pseudo import fill_open_heads


class Parent:
    """Answers 'positive'/'delivery' with the confidence written in the text's last word."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def predict(
        self, texts: Sequence[str], channels: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        self.asked += texts
        out = []
        for text in texts:
            confidence = float(text.rsplit(" ", 1)[1])
            out.append(Prediction("positive", confidence, {}, "delivery", confidence, {}, "v1"))
        return out


def test_open_heads_get_the_parents_sure_answers_and_given_labels_stay() -> None:
    parent = Parent()
    examples = [
        Example("sure sentiment-only 0.9", "chat", "negative", None),
        Example("unsure sentiment-only 0.3", "chat", "negative", None),
        Example("sure topic-only 0.8", "chat", None, "refunds"),
        Example("fully labelled 0.99", "chat", "neutral", "billing_payments"),
        Example("no channel 0.9", None, "neutral", None),
    ]

    filled, count = fill_open_heads(parent, examples, min_confidence=0.5)

    assert filled == [
        Example("sure sentiment-only 0.9", "chat", "negative", "delivery"),
        Example("unsure sentiment-only 0.3", "chat", "negative", None),
        Example("sure topic-only 0.8", "chat", "positive", "refunds"),
        Example("fully labelled 0.99", "chat", "neutral", "billing_payments"),
        Example("no channel 0.9", None, "neutral", None),  # a topic needs the channel
    ]
    assert count == 2
    assert "fully labelled 0.99" not in parent.asked  # nothing open: not even asked


def test_a_threshold_above_one_never_fills() -> None:
    examples = [Example("sentiment-only 0.99", "news", "negative", None)]
    filled, count = fill_open_heads(Parent(), examples, min_confidence=1.01)
    assert (filled, count) == (examples, 0)
