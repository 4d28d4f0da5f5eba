"""The distillation term: the parent's soft answers on the replay, nothing on the new labels."""

from __future__ import annotations

import pytest
import torch

from models.examples import Example
from retrain.distill import MASKED, DistillationLoss, ParentAnswer
from retrain.errors import RetrainError

REPLAYED = Example("the seed line the parent knows", "news", "neutral", "markets")
NEW = Example("a freshly labelled headline", "news", "negative", None)


def parent_answers() -> dict[Example, ParentAnswer]:
    sentiment = torch.tensor([0.5, 2.0, -1.0])
    topic = torch.tensor([3.0, 0.0, MASKED])  # the third topic belongs to another channel
    return {REPLAYED: ParentAnswer(sentiment, topic)}


def test_a_candidate_that_answers_like_the_parent_pays_nothing() -> None:
    loss = DistillationLoss(parent_answers(), temperature=2.0, weight=1.0)
    answer = parent_answers()[REPLAYED]

    value = loss([REPLAYED], answer.sentiment[None], answer.topic[None])

    assert value.item() == pytest.approx(0.0, abs=1e-6)


def test_drifting_from_the_parent_on_a_replayed_line_costs_in_proportion_to_the_weight() -> None:
    drifted_sentiment = torch.tensor([[3.0, -1.0, 0.0]])
    drifted_topic = torch.tensor([[0.0, 3.0, MASKED]])

    light = DistillationLoss(parent_answers(), temperature=2.0, weight=1.0)
    heavy = DistillationLoss(parent_answers(), temperature=2.0, weight=3.0)
    cost = light([REPLAYED], drifted_sentiment, drifted_topic)

    assert cost.item() > 0.1
    assert heavy([REPLAYED], drifted_sentiment, drifted_topic).item() == pytest.approx(
        3 * cost.item()
    )


def test_new_labels_have_no_parent_answer_and_keep_their_hard_targets_only() -> None:
    loss = DistillationLoss(parent_answers(), temperature=2.0, weight=1.0)
    answer = parent_answers()[REPLAYED]
    wild = torch.tensor([[9.0, -9.0, 0.0]])

    only_new = loss([NEW], wild, answer.topic[None])
    mixed = loss(
        [NEW, REPLAYED],
        torch.cat([wild, answer.sentiment[None]]),
        torch.cat([answer.topic[None], answer.topic[None]]),
    )

    assert only_new.item() == 0.0
    assert mixed.item() == pytest.approx(0.0, abs=1e-6)  # the new row's answer is not judged


def test_gradients_flow_into_the_candidate_logits() -> None:
    loss = DistillationLoss(parent_answers(), temperature=2.0, weight=1.0)
    sentiment = torch.zeros(1, 3, requires_grad=True)
    topic = torch.tensor([[0.0, 0.0, MASKED]], requires_grad=True)

    loss([REPLAYED], sentiment, topic).backward()  # type: ignore[no-untyped-call]

    assert sentiment.grad is not None and sentiment.grad.abs().sum() > 0
    assert topic.grad is not None and topic.grad[0, 2].item() == 0.0


def test_a_temperature_of_zero_is_refused() -> None:
    with pytest.raises(RetrainError, match="temperature"):
        DistillationLoss(parent_answers(), temperature=0.0, weight=1.0)
