"""The classifier: one shared encoder, a sentiment head and a prototype topic head.

Topic scoring is a scaled cosine between the message embedding and one prototype vector per
topic. A prototype starts as the embedding of the topic's description, so a topic nobody has
labelled yet is scored zero-shot; training moves the prototypes (and the encoder) towards
what labelled messages look like.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from models.calibration import ChannelCalibration
from models.encoder import mean_pool
from models.examples import SENTIMENTS
from models.taxonomy import Taxonomy

INITIAL_TOPIC_SCALE = 20.0


class MoodClassifier(nn.Module):
    """Encoder + sentiment head + topic prototypes. ``topic_keys`` name the prototype rows."""

    sentiment_temperature: torch.Tensor
    topic_temperature: torch.Tensor

    def __init__(self, encoder: PreTrainedModel, topic_keys: Sequence[str]) -> None:
        super().__init__()
        hidden = int(encoder.config.hidden_size)
        self.encoder = encoder
        self.dropout = nn.Dropout(0.1)
        self.sentiment_head = nn.Linear(hidden, len(SENTIMENTS))
        self.topic_keys: list[str] = list(topic_keys)
        self.topic_prototypes = nn.Parameter(torch.zeros(len(self.topic_keys), hidden))
        self.topic_bias = nn.Parameter(torch.zeros(len(self.topic_keys)))
        self.topic_log_scale = nn.Parameter(torch.tensor(math.log(INITIAL_TOPIC_SCALE)))
        # Temperatures fitted on held-out data after training (calibration); not trained.
        self.register_buffer("sentiment_temperature", torch.tensor(1.0))
        self.register_buffer("topic_temperature", torch.tensor(1.0))
        # Per-channel sentiment calibration (temperature + class prior); channels not listed
        # use ``sentiment_temperature``. Saved in heads.json, not in the weights.
        self.sentiment_calibration: dict[str, ChannelCalibration] = {}
        # For a channel whose topics are all zero-shot, "other" is a decision, not a topic:
        # a message goes there when its best named topic's cosine is below this threshold.
        self.zero_shot_other_threshold: float | None = None

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(output.last_hidden_state, attention_mask)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (uncalibrated) sentiment and topic logits, topics over every known key."""
        pooled = self.dropout(self.embed(input_ids, attention_mask))
        sentiment = self.sentiment_head(pooled)
        cosine = F.normalize(pooled, dim=-1) @ F.normalize(self.topic_prototypes, dim=-1).T
        topic = cosine * self.topic_log_scale.exp() + self.topic_bias
        return sentiment, topic

    @torch.no_grad()
    def embed_texts(
        self, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int = 128
    ) -> torch.Tensor:
        """Normalized embeddings of a few texts (topic descriptions); not for the hot path."""
        device = self.topic_prototypes.device
        batch = tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        ).to(device)
        was_training = self.training
        self.eval()
        pooled = self.embed(batch["input_ids"], batch["attention_mask"])
        self.train(was_training)
        return F.normalize(pooled.float(), dim=-1)

    @torch.no_grad()
    def align_topics(self, taxonomy: Taxonomy, tokenizer: PreTrainedTokenizerBase) -> list[str]:
        """Make the prototype rows match ``taxonomy``; returns the keys that are new (zero-shot).

        Trained topics keep their learned prototype and bias; new topics start from the
        embedding of their description; topics no longer in the taxonomy are dropped.
        """
        known = {key: row for row, key in enumerate(self.topic_keys)}
        fresh = [t for t in taxonomy.topics if t.key not in known]
        descriptions = self.embed_texts(tokenizer, [t.prompt for t in fresh]) if fresh else None
        prototypes, biases = [], []
        fresh_row = 0
        for topic in taxonomy.topics:
            if topic.key in known:
                prototypes.append(self.topic_prototypes[known[topic.key]])
                biases.append(self.topic_bias[known[topic.key]])
            else:
                assert descriptions is not None
                prototypes.append(descriptions[fresh_row].to(self.topic_prototypes.dtype))
                biases.append(torch.zeros((), device=self.topic_bias.device))
                fresh_row += 1
        self.topic_prototypes = nn.Parameter(torch.stack(prototypes))
        self.topic_bias = nn.Parameter(torch.stack(biases))
        self.topic_keys = list(taxonomy.keys)
        return [t.key for t in fresh]


def channel_mask(taxonomy_keys: Sequence[str], channels: Sequence[str | None]) -> torch.Tensor:
    """Boolean (batch, topics) mask: which topics each message's channel may take.

    A message with no channel (or one the taxonomy lacks) may take any topic.
    """
    prefixes = [key.split("/", 1)[0] for key in taxonomy_keys]
    known = set(prefixes)
    rows = []
    for channel in channels:
        if channel is None or channel not in known:
            rows.append([True] * len(prefixes))
        else:
            rows.append([prefix == channel for prefix in prefixes])
    return torch.tensor(rows, dtype=torch.bool)
