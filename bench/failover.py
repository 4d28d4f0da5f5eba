"""Failover soak: kill -9 a worker again and again while a stream flows through two workers.

    python -m bench.failover --kills 10 --rate 80

Two workers share 4-partition topics and a steady stream (about 1 % of it malformed, so dead
letters are exercised too). Every ``--every`` seconds one worker is killed with SIGKILL and a
replacement is started. For each kill, the failover time is the time from the kill until every
partition that had work waiting when it died has its committed offset move again (the group
noticed the death and a survivor took the partition over). At the end: every good message must
be indexed exactly once (0 lost, 0 duplicate documents across indices), and every bad one
dead-lettered under exactly one key. Prints JSON, then a one-line summary.

Uses the real model in ``MOODWATCH_REGISTRY_PATH`` (default var/registry) and the local Kafka
and Elasticsearch (``moodwatch infra up``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from moodwatch.settings import load_settings
from stream.connections import elasticsearch, kafka_options
from tests.integration.streamkit import StreamRig, wait_for


def _env(token: str, registry: str) -> dict[str, str]:
    return {
        "MOODWATCH_TOPIC_NEWS": f"fo-news-{token}",
        "MOODWATCH_TOPIC_CHAT": f"fo-chat-{token}",
        "MOODWATCH_TOPIC_DEAD_LETTER": f"fo-dead-{token}",
        "MOODWATCH_TOPIC_LABELS": f"fo-labels-{token}",
        "MOODWATCH_TOPIC_ALERTS": f"fo-alerts-{token}",
        "MOODWATCH_TOPIC_MODEL_UPDATES": f"fo-updates-{token}",
        "MOODWATCH_TOPIC_PARTITIONS": "4",
        "MOODWATCH_ES_INDEX_PREFIX": f"fo-{token}",
        "MOODWATCH_WORKER_GROUP": f"fo-workers-{token}",
        "MOODWATCH_REGISTRY_PATH": registry,
        "MOODWATCH_BATCH_MAX_WAIT_S": "0.2",
        "MOODWATCH_ES_RETRY_MAX_S": "2",
        "MOODWATCH_LOG_FORMAT": "json",
    }


async def _create_topics(settings: Any, env: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        names = [v for k, v in env.items() if k.startswith("MOODWATCH_TOPIC_") and "PART" not in k]
        await admin.create_topics([NewTopic(n, 4, 1) for n in names])
    finally:
        await admin.close()


async def _committed(settings: Any, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def _ends(settings: Any, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(**kafka_options(settings))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(4)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {tp.partition: off for tp, off in ends.items()}


class Producer(threading.Thread):
    """A steady stream at ``rate`` messages/s until stopped; counts good and bad sent."""

    def __init__(self, settings: Any, topic: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.settings, self.topic, self.rate = settings, topic, rate
        self.good: list[str] = []
        self.bad = 0
        self.stop = threading.Event()

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        producer = AIOKafkaProducer(**kafka_options(self.settings), acks="all", linger_ms=5)
        await producer.start()
        try:
            i = 0
            started = time.monotonic()
            while not self.stop.is_set():
                i += 1
                if i % 100 == 0:
                    await producer.send_and_wait(self.topic, b"{not json " + str(i).encode())
                    self.bad += 1
                else:
                    msg_id = f"fo-{i}"
                    body = {"id": msg_id, "text": f"refund {i} still missing, support is silent"}
                    await producer.send_and_wait(self.topic, json.dumps(body).encode())
                    self.good.append(msg_id)
                delay = started + i / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            await producer.stop()


def _failover_time(settings: Any, group: str, topic: str, killed_at: float, limit: float) -> float:
    """Seconds from the kill until every partition with waiting work commits again."""
    before = asyncio.run(_committed(settings, group, topic))
    waiting = set(before)
    while time.monotonic() - killed_at < limit:
        now = asyncio.run(_committed(settings, group, topic))
        ends = asyncio.run(_ends(settings, topic))
        waiting = {
            p
            for p in waiting
            if now.get(p, -1) <= before.get(p, -1) and ends.get(p, 0) > before.get(p, -1)
        }
        if not waiting:
            return time.monotonic() - killed_at
        time.sleep(0.25)
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=80.0, help="messages per second")
    parser.add_argument("--every", type=float, default=25.0, help="seconds between kills")
    args = parser.parse_args()

    settings = load_settings()
    token = uuid.uuid4().hex[:8]
    registry = os.environ.get("MOODWATCH_REGISTRY_PATH", str(Path("var/registry").resolve()))
    env = _env(token, registry)
    asyncio.run(_create_topics(settings, env))
    es = elasticsearch(settings)
    workdir = Path(tempfile.mkdtemp(prefix="failover-"))
    rig = StreamRig(settings, env, es, workdir)
    topic = env["MOODWATCH_TOPIC_CHAT"]
    group = env["MOODWATCH_WORKER_GROUP"]
    times: list[float] = []
    try:
        workers = [rig.start_worker("w0"), rig.start_worker("w1")]
        producer = Producer(settings, topic, args.rate)
        producer.start()
        wait_for(lambda: rig.count() >= 200, 300, "the stream to flow")
        for kill in range(args.kills):
            victim = workers[kill % 2]
            victim.kill()
            killed_at = time.monotonic()
            took = _failover_time(settings, group, topic, killed_at, limit=120)
            times.append(took)
            print(f"kill {kill + 1}: failover {took:.1f} s", file=sys.stderr)
            workers[kill % 2] = rig.start_worker(f"w{kill % 2}-{kill + 1}")
            time.sleep(max(0.0, args.every - (time.monotonic() - killed_at)))
        producer.stop.set()
        producer.join()
        rig.wait_indexed(len(producer.good), timeout=600)
        docs = rig.documents()
        ids = Counter(d["_id"] for d in docs)
        dead = rig.dead_letters(expected=producer.bad, timeout=120)
        keys = Counter((d["source"]["partition"], d["source"]["offset"]) for d in dead)
        result = {
            "kills": args.kills,
            "rate_msg_s": args.rate,
            "sent_good": len(producer.good),
            "sent_bad": producer.bad,
            "indexed_documents": len(docs),
            "lost": len(set(producer.good) - set(ids)),
            "duplicate_documents": sum(n - 1 for n in ids.values() if n > 1),
            "dead_letters_read": len(dead),
            "dead_letter_records": len(keys),
            "duplicate_dead_letters": sum(n - 1 for n in keys.values() if n > 1),
            "failover_s": [round(t, 1) for t in times],
            "failover_median_s": round(statistics.median(times), 1),
            "failover_max_s": round(max(times), 1),
            "session_timeout_s": settings.worker_session_timeout_s,
        }
    finally:
        rig.close()
        es.close()
    print(json.dumps(result, indent=2))
    ok = result["lost"] == 0 and result["duplicate_documents"] == 0
    print(
        f"failover: {args.kills} kills, median {result['failover_median_s']} s, "
        f"max {result['failover_max_s']} s (target 15); lost {result['lost']}, "
        f"duplicate docs {result['duplicate_documents']}, duplicate dead letters "
        f"{result['duplicate_dead_letters']} -> {'OK' if ok else 'FAILED'}"
    )


if __name__ == "__main__":
    main()
