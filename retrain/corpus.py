"""What a retrain learns from: labels new since the current version, a replay of earlier labels
and of the seed data (against forgetting), and a held-out share of the new labels for the gate.

"New" is measured on ``stored_at`` (when moodwatch received a label) against the cut-off the
current version records as ``training.labels_until``. A version that was not trained by the
retrain job (the seed-trained default, a manual ``model train``) has seen no labels: every
label is new to it.

Several labelers may label one message: per message and head the majority class is trained on,
and a tie leaves that head unlabelled (the disagreement stays in the index for people to see).
The held-out share is chosen by a hash of the message id, so a message never moves between
training and held-out from one run to the next.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from models.examples import Example, seed_training_set
from models.registry import ModelVersion
from stream.label_index import iter_labels, refresh_labels
from stream.validation import parse_created_at

LABELS_UNTIL = "labels_until"
# After an explicit refresh, only labels being written this very moment can be invisible.
REFRESH_MARGIN = timedelta(milliseconds=200)


def labels_cutoff(version: ModelVersion | None) -> datetime | None:
    """Labels stored after this are new to ``version`` (None: every label is new)."""
    if version is None:
        return None
    value = version.training.get(LABELS_UNTIL)
    return parse_created_at(value) if isinstance(value, str) and value else None


def in_held_out(message_id: str, fraction: float) -> bool:
    digest = hashlib.sha1(message_id.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _majority(values: Iterable[str | None]) -> str | None:
    counts = Counter(v for v in values if v)
    if not counts:
        return None
    ranked = counts.most_common(2)
    if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
        return None  # labelers disagree evenly: do not train this head on this message
    return ranked[0][0]


def to_examples(documents: Iterable[dict[str, Any]]) -> dict[str, Example]:
    """Message id → one training example from all its labels (majority per head)."""
    by_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in documents:
        by_message[doc["message_id"]].append(doc)
    examples: dict[str, Example] = {}
    for message_id, docs in by_message.items():
        sentiment = _majority(d.get("sentiment") for d in docs)
        topic = _majority(d.get("topic") for d in docs)
        if sentiment is None and topic is None:
            continue
        first = docs[0]
        examples[message_id] = Example(first["text"], first.get("channel"), sentiment, topic)
    return examples


@dataclass
class Corpus:
    """The data of one retrain run."""

    train: list[Example]
    held_out: list[Example]
    label_replay: list[Example]
    seed_replay: list[Example]
    since: datetime | None
    labels_until: datetime
    new_labels: int  # label documents (one per message and labeler)
    numbers: dict[str, int] = field(default_factory=dict)

    @property
    def replay(self) -> list[Example]:
        return [*self.label_replay, *self.seed_replay]


def gather(
    client: Elasticsearch,
    prefix: str,
    since: datetime | None,
    *,
    holdout_fraction: float,
    label_replay: int,
    seed_replay: int,
    seed: int = 1234,
    now: datetime | None = None,
) -> Corpus:
    """Read the labels index and split it into training, held-out and replay sets."""
    refresh_labels(client, prefix)
    until = (now or datetime.now(UTC)) - REFRESH_MARGIN
    rng = random.Random(seed)
    new_docs = list(iter_labels(client, prefix, after=since, until=until))
    # The cut-off is the newest label actually read, so a label stored a moment later is new
    # next time instead of falling between two runs.
    seen = [parse_created_at(doc["stored_at"]) for doc in new_docs if doc.get("stored_at")]
    until = max(seen) if seen else (since or until)
    new = to_examples(new_docs)
    held_ids = {mid for mid in new if in_held_out(mid, holdout_fraction)}
    older: list[Example] = []
    if since is not None and label_replay > 0:
        earlier = to_examples(iter_labels(client, prefix, until=since))
        older = [e for mid, e in earlier.items() if mid not in new and mid not in held_ids]
        older = rng.sample(older, min(label_replay, len(older)))
    seeds = seed_training_set()
    seeds = rng.sample(seeds, min(seed_replay, len(seeds)))
    corpus = Corpus(
        train=[e for mid, e in sorted(new.items()) if mid not in held_ids],
        held_out=[e for mid, e in sorted(new.items()) if mid in held_ids],
        label_replay=older,
        seed_replay=seeds,
        since=since,
        labels_until=until,
        new_labels=len(new_docs),
    )
    corpus.numbers = {
        "new_labels": len(new_docs),
        "new_messages": len(new),
        "train": len(corpus.train),
        "held_out": len(corpus.held_out),
        "label_replay": len(older),
        "seed_replay": len(seeds),
    }
    return corpus


def cap_replay(
    label_replay: Sequence[Example], seed_replay: Sequence[Example], most: int | None, seed: int
) -> tuple[list[Example], list[Example]]:
    """At most ``most`` replayed lines in all, drawn from both kinds in proportion.

    A run with a replay cap per epoch trains on at most ``cap × epochs`` replayed lines, so
    the rest need neither the parent's answers nor its logits: measured at 3,000 labels per
    channel (1,000 earlier labels + 400 seed lines replayed), answering all of them cost
    about a third of a 224-s run.
    """
    total = len(label_replay) + len(seed_replay)
    if most is None or total <= most:
        return list(label_replay), list(seed_replay)
    tagged = [(True, e) for e in label_replay] + [(False, e) for e in seed_replay]
    kept = random.Random(seed).sample(tagged, most)
    return [e for is_label, e in kept if is_label], [e for is_label, e in kept if not is_label]


def split_counts(examples: Sequence[Example]) -> dict[str, int]:
    return dict(Counter(e.channel or "?" for e in examples))
