"""Distillation against forgetting: replayed lines are taught the parent's soft answers.

The replay (seed lines and earlier labels) is there so the candidate keeps answering as the
parent did on what the parent was good at. Hard labels say only which class is right; the
parent's probabilities at a raised temperature also say how close the others were (a headline
the parent found 60 % neutral / 35 % negative), and that shape is what the golden slices
measure when a new labelling convention pulls the model. Each step therefore adds, for the
examples of the batch that have a recorded parent answer, ``weight × T² × KL(parent‖candidate)``
at temperature ``T`` on both heads (topic logits masked to the example's channel); the new labels
keep their hard targets only.

The parent's logits are recorded once, before training, from the very checkpoint that is about
to be fine-tuned (it *is* the parent until its first step), in eval mode, so no second model is
loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.checkpoint import Checkpoint
from models.classifier import channel_mask
from models.examples import Example
from retrain.errors import RetrainError

MASKED = -1e4  # the value fine-tuning gives topic logits outside the example's channel


@dataclass(frozen=True)
class ParentAnswer:
    """The parent's raw logits for one example."""

    sentiment: torch.Tensor
    topic: torch.Tensor


@torch.no_grad()
def record_parent(
    checkpoint: Checkpoint, examples: Sequence[Example], max_length: int, batch_size: int = 64
) -> dict[Example, ParentAnswer]:
    """The checkpoint's raw logits for each distinct example (call before fine-tuning it)."""
    model, tokenizer, taxonomy = checkpoint.classifier, checkpoint.tokenizer, checkpoint.taxonomy
    model.align_topics(taxonomy, tokenizer)
    distinct = list(dict.fromkeys(examples))
    was_training = model.training
    model.eval()
    answers: dict[Example, ParentAnswer] = {}
    device = model.topic_prototypes.device
    try:
        for start in range(0, len(distinct), batch_size):
            batch = distinct[start : start + batch_size]
            encoded = tokenizer(
                [e.text for e in batch],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            sentiment, topic = model(encoded["input_ids"], encoded["attention_mask"])
            mask = channel_mask(taxonomy.keys, [e.channel for e in batch]).to(device)
            topic = topic.float().masked_fill(~mask, MASKED)
            for row, example in enumerate(batch):
                answers[example] = ParentAnswer(sentiment[row].float(), topic[row])
    finally:
        model.train(was_training)
    return answers


def _kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.kl_div(
        F.log_softmax(student / temperature, dim=-1),
        F.softmax(teacher / temperature, dim=-1),
        reduction="batchmean",
    ) * (temperature**2)


class DistillationLoss:
    """The extra loss term :func:`models.training.fine_tune` adds to each step."""

    def __init__(
        self, parent: dict[Example, ParentAnswer], temperature: float, weight: float
    ) -> None:
        if temperature <= 0:
            raise RetrainError(f"distillation temperature must be positive, not {temperature}")
        self.parent = parent
        self.temperature = temperature
        self.weight = weight

    def __call__(
        self, batch: Sequence[Example], sentiment: torch.Tensor, topic: torch.Tensor
    ) -> torch.Tensor:
        rows = [i for i, example in enumerate(batch) if example in self.parent]
        if not rows or self.weight == 0:
            return sentiment.new_zeros(())
        index = torch.tensor(rows, dtype=torch.long, device=sentiment.device)
        answers = [self.parent[batch[i]] for i in rows]
        teacher_sentiment = torch.stack([a.sentiment for a in answers]).to(sentiment.device)
        teacher_topic = torch.stack([a.topic for a in answers]).to(topic.device)
        loss = _kl(sentiment[index], teacher_sentiment, self.temperature)
        loss = loss + _kl(topic[index], teacher_topic, self.temperature)
        return self.weight * loss
