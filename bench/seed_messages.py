"""Bulk-seed synthetic *scored* message documents into a moodwatch messages index.

For benchmarks, dashboards and alert tests that need history without running the model: each
document is valid against the real ``dynamic: strict`` messages template (it is built by
:func:`stream.documents.scored_document`, the function the worker uses), lands in the time-based
index of its ``created_at`` and is visible through the ``<prefix>-messages`` alias.

Documents spread uniformly over ``[start, end)`` across ``groups`` topics (channel and source
cycle too); a :class:`Burst` adds extra messages for one topic in a short span, mostly negative.
Ids are deterministic (``seed-<n>``, ``burst-<k>-<n>``), so seeding twice overwrites.

    python -m bench.seed_messages --prefix mwbench --count 1000000 --groups 50 --hours 24
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.helpers import parallel_bulk

from stream.index_admin import create_templates
from stream.index_layout import IndexLayout

SENTIMENTS = ("negative", "neutral", "positive")
CHANNELS = ("news", "chat")
NEGATIVE_WORDS = ("broken", "refund", "angry", "terrible", "outage", "charged", "late", "crash")
CALM_WORDS = ("order", "thanks", "price", "update", "report", "market", "question", "service")


@dataclass(frozen=True)
class Burst:
    """Extra messages about ``topic`` between ``start`` and ``start + duration``."""

    topic: str
    start: datetime
    duration: timedelta
    count: int
    negative_share: float = 0.9
    channel: str = "chat"
    source: str = "burst-source"
    words: tuple[str, ...] = ("outage", "refund", "broken")


def iso(moment: datetime) -> str:
    """The timestamp format of :func:`stream.documents.iso` (that module imports torch)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def topic_names(groups: int) -> list[str]:
    """``groups`` topic names: ``topic-00``, ``topic-01``, ..."""
    return [f"topic-{i:02d}" for i in range(groups)]


def scored(
    doc_id: str,
    created_at: datetime,
    *,
    topic: str,
    channel: str,
    source: str,
    sentiment: str,
    confidence: float,
    text: str,
    model_version: str = "seed-v1",
) -> dict[str, Any]:
    """One scored document shaped like :func:`stream.documents.scored_document` builds it.

    Built directly (not through the model's ``Prediction``) so seeding does not import torch;
    the strict template refuses any drift, and tests seed through this function.
    """
    rest = round((1.0 - confidence) / 2, 4)
    probs = {s: (confidence if s == sentiment else rest) for s in SENTIMENTS}
    stamp = iso(created_at)
    return {
        "id": doc_id,
        "text": text,
        "channel": channel,
        "source": source,
        "lang": "en",
        "author": None,
        "conversation_id": None,
        "created_at": stamp,
        "ingested_at": stamp,
        "scored_at": stamp,
        "indexed_at": stamp,
        "sentiment": {"label": sentiment, "confidence": confidence, "probs": probs},
        "topic": {"label": topic, "confidence": 0.9, "probs": {topic: 0.9}},
        "model_version": model_version,
        "redactions": [],
        "kafka": {"topic": f"seed-{channel}", "partition": 0, "offset": 0},
        "metadata": {},
    }


def synthetic_documents(
    count: int,
    start: datetime,
    end: datetime,
    topics: Sequence[str],
    *,
    negative_share: float = 0.2,
    sources: int = 5,
    seed: int = 7,
    id_prefix: str = "seed",
) -> Iterator[dict[str, Any]]:
    """``count`` calm documents spread evenly over ``[start, end)`` (random order of labels)."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    for n in range(count):
        created = start + timedelta(seconds=span * (n + rng.random()) / max(count, 1))
        topic = topics[n % len(topics)]
        negative = rng.random() < negative_share
        sentiment = "negative" if negative else rng.choice(("neutral", "positive"))
        words = NEGATIVE_WORDS if negative else CALM_WORDS
        yield scored(
            f"{id_prefix}-{n}",
            created,
            topic=topic,
            channel=CHANNELS[n % len(CHANNELS)],
            source=f"source-{n % sources}",
            sentiment=sentiment,
            confidence=round(0.55 + 0.44 * rng.random(), 4),
            text=" ".join(rng.choices(words, k=6)),
        )


def burst_documents(burst: Burst, key: int = 0, seed: int = 11) -> Iterator[dict[str, Any]]:
    """The documents of one :class:`Burst`, spread evenly over its span."""
    rng = random.Random(seed + key)
    span = burst.duration.total_seconds()
    for n in range(burst.count):
        created = burst.start + timedelta(seconds=span * n / max(burst.count, 1))
        negative = rng.random() < burst.negative_share
        yield scored(
            f"burst-{key}-{n}",
            created,
            topic=burst.topic,
            channel=burst.channel,
            source=burst.source,
            sentiment="negative" if negative else "neutral",
            confidence=round(0.7 + 0.29 * rng.random(), 4),
            text=" ".join(rng.choices(burst.words, k=5)),
        )


def index_documents(
    client: Elasticsearch,
    layout: IndexLayout,
    documents: Iterable[dict[str, Any]],
    *,
    chunk_size: int = 5000,
    threads: int = 2,
    refresh: bool = True,
) -> int:
    """Bulk-index ``documents`` (``_id`` = their ``id``) into their time-based indices.

    Refresh is paused on the indices being written while the load runs (big speed-up on a busy
    node) and restored to the template's 1 s afterwards.
    """
    create_templates(client, layout)
    touched: set[str] = set()

    def actions() -> Iterator[dict[str, Any]]:
        for doc in documents:
            index = layout.messages_index(datetime.fromisoformat(doc["created_at"]))
            if index not in touched:
                touched.add(index)
                if not client.indices.exists(index=index):
                    client.indices.create(index=index)
                client.indices.put_settings(index=index, settings={"refresh_interval": "-1"})
            yield {"_index": index, "_id": doc["id"], "_source": doc}

    written = 0
    try:
        for ok, item in parallel_bulk(
            client, actions(), thread_count=threads, chunk_size=chunk_size, raise_on_error=True
        ):
            if not ok:
                raise RuntimeError(f"bulk item failed: {item}")
            written += 1
    finally:
        for index in touched:
            client.indices.put_settings(index=index, settings={"refresh_interval": "1s"})
    if refresh:
        client.indices.refresh(index=layout.messages_alias)
    return written


def seed_messages(
    client: Elasticsearch,
    prefix: str,
    count: int,
    *,
    start: datetime,
    end: datetime,
    groups: int = 10,
    negative_share: float = 0.2,
    bursts: Sequence[Burst] = (),
    period: str = "month",
) -> int:
    """Seed ``count`` calm documents over ``groups`` topics, plus ``bursts``; returns the total."""
    layout = IndexLayout(prefix, period)
    topics = topic_names(groups)

    def everything() -> Iterator[dict[str, Any]]:
        yield from synthetic_documents(count, start, end, topics, negative_share=negative_share)
        for key, burst in enumerate(bursts):
            yield from burst_documents(burst, key)

    return index_documents(client, layout, everything())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True, help="ES index prefix (e.g. mwbench)")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--hours", type=float, default=24.0, help="span ending now")
    parser.add_argument("--negative-share", type=float, default=0.2)
    parser.add_argument("--burst-topic", help="add a negative burst on this topic, ending now")
    parser.add_argument("--burst-count", type=int, default=200)
    parser.add_argument("--burst-minutes", type=float, default=5.0)
    parser.add_argument("--es", default="http://127.0.0.1:9200")
    args = parser.parse_args(argv)
    end = datetime.now(UTC)
    start = end - timedelta(hours=args.hours)
    bursts = []
    if args.burst_topic:
        span = timedelta(minutes=args.burst_minutes)
        bursts.append(Burst(args.burst_topic, end - span, span, args.burst_count))
    client = Elasticsearch(args.es, request_timeout=120)
    began = time.perf_counter()
    try:
        written = seed_messages(
            client,
            args.prefix,
            args.count,
            start=start,
            end=end,
            groups=args.groups,
            negative_share=args.negative_share,
            bursts=bursts,
        )
    finally:
        client.close()
    seconds = time.perf_counter() - began
    result = {"prefix": args.prefix, "written": written, "seconds": round(seconds, 2)}
    print(json.dumps(result))
    print(
        f"seeded {written} documents into {args.prefix}-messages in {seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
