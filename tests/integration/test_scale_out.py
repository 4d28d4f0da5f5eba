"""Scale-out on real Kafka + Elasticsearch: workers in one consumer group share a 6-partition
stream, and a worker that joins mid-stream takes its share without a message lost or doubled.

The affordable variant of "three workers, then one more" on a 2-core CI machine: two workers
start, a third joins while messages keep flowing, and from then on all three hold partitions and
index messages. Every worker loads torch and the model (about a gigabyte and tens of CPU-seconds
each), so a fourth would cost a minute more for nothing the third does not already prove.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families

from stream.connections import kafka_options
from stream.feeder import TokenBucket
from tests.integration.streamkit import StreamRig, WorkerProcess, wait_for

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"

PARTITIONS = 6
RATE = 10.0  # messages/s: little enough that scoring them does not slow the third worker's start
CHANNELS = ("chat", "news")


class SteadyStream(threading.Thread):
    """Sends messages at ``rate`` until stopped, round-robin over every partition of both input
    topics; remembers where the broker put each id."""

    def __init__(self, rig: StreamRig, rate: float = RATE) -> None:
        super().__init__(name="steady-stream", daemon=True)
        self.rig = rig
        self.rate = rate
        self.placed: dict[str, tuple[str, int, int]] = {}  # id -> (topic, partition, offset)
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._send())
        except BaseException as exc:  # reported by finish(), not lost in a thread
            self.error = exc

    async def _send(self) -> None:
        producer = AIOKafkaProducer(**kafka_options(self.rig.settings), acks="all")
        await producer.start()
        bucket, number = TokenBucket(self.rate), 0
        try:
            while not self._halt.is_set():
                await asyncio.sleep(bucket.take())  # pacing the producer, not waiting on a result
                channel = CHANNELS[number % 2]
                topic, message_id = self.rig.topic(channel), f"so-{number}"
                body = {"id": message_id, "text": f"order {number} is late, nobody answers"}
                sent = await producer.send_and_wait(
                    topic, json.dumps(body).encode(), partition=(number // 2) % PARTITIONS
                )
                self.placed[message_id] = (topic, sent.partition, sent.offset)
                number += 1
        finally:
            await producer.stop()

    def finish(self) -> dict[str, tuple[str, int, int]]:
        self._halt.set()
        self.join(timeout=30)
        assert self.error is None, f"the producer failed: {self.error!r}"
        return self.placed


def _grow_inputs(rig: StreamRig) -> None:
    """The rig creates 4-partition topics; the inputs of this test have 6."""

    async def grow() -> None:
        admin = AIOKafkaAdminClient(**kafka_options(rig.settings))
        await admin.start()
        try:
            await admin.create_partitions(
                {rig.topic(ch): NewPartitions(total_count=PARTITIONS) for ch in CHANNELS}
            )
        finally:
            await admin.close()

    asyncio.run(grow())
    rig.env["MOODWATCH_TOPIC_PARTITIONS"] = str(PARTITIONS)
    # Three workers share two cores: one inference thread each, or they fight over the cores.
    rig.env["MOODWATCH_TORCH_THREADS"] = "1"
    rig.env["OMP_NUM_THREADS"] = "1"


def group_members(rig: StreamRig) -> list[dict[str, set[int]]]:
    """The input partitions each member of the workers' consumer group holds now (an empty list
    while the group is rebalancing), as the group coordinator reports them."""

    async def describe() -> list[dict[str, set[int]]]:
        admin = AIOKafkaAdminClient(**kafka_options(rig.settings))
        await admin.start()
        try:
            answers = await admin.describe_consumer_groups([rig.env["MOODWATCH_WORKER_GROUP"]])
        except KafkaError:  # the coordinator moving or busy: ask again at the next poll
            return []
        finally:
            await admin.close()
        group = answers[0].to_object()["groups"][0]
        if group["state"] != "Stable":
            return []
        inputs = {rig.topic(ch) for ch in CHANNELS}
        members = []
        for member in group["members"]:
            assignment = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
            members.append(
                {topic: set(parts) for topic, parts in assignment.assignment if topic in inputs}
            )
        return members

    return asyncio.run(describe())


def shared_by(members: list[dict[str, set[int]]], workers: int) -> bool:
    """Each of ``workers`` members holds an equal, disjoint share of every input topic."""
    topics = {t for m in members for t in m}
    if len(members) != workers or len(topics) != len(CHANNELS):
        return False
    for channel_topic in topics:
        held = [sorted(m.get(channel_topic, set())) for m in members]
        everything = sorted(p for parts in held for p in parts)
        if everything != list(range(PARTITIONS)):
            return False
        if {len(parts) for parts in held} != {PARTITIONS // workers}:
            return False
    return True


def indexed(worker: WorkerProcess) -> float:
    """Documents this worker has written to Elasticsearch, from its own /metrics."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(worker.metrics())
        for sample in family.samples
        if sample.name == "moodwatch_messages_indexed_total"
    )


def indexed_now(worker: WorkerProcess) -> float:
    """``indexed`` for a polled condition: a /metrics request that times out on a loaded machine
    counts as "not yet" (-1) instead of failing the wait."""
    try:
        return indexed(worker)
    except OSError:
        return -1.0


@pytest.fixture
def steady(rig: StreamRig) -> Iterator[SteadyStream]:
    stream = SteadyStream(rig)
    yield stream
    if stream.is_alive():
        stream.finish()


@pytest.mark.slow
def test_workers_share_six_partitions_and_one_joining_mid_stream_loses_or_doubles_nothing(
    rig: StreamRig, steady: SteadyStream
) -> None:
    _grow_inputs(rig)
    with ThreadPoolExecutor(2) as pool:  # both load the model at once
        first = list(pool.map(rig.start_worker, ["a", "b"]))
    steady.start()

    wait_for(lambda: shared_by(group_members(rig), 2), 120, "two workers holding 3 partitions each")
    wait_for(lambda: all(indexed_now(w) > 0 for w in first), 120, "both workers to index messages")

    third = rig.start_worker("c")  # joins while the stream flows: the group rebalances
    wait_for(lambda: shared_by(group_members(rig), 3), 120, "three workers holding 2 each")
    after_join = {w.name: indexed(w) for w in first}
    wait_for(
        lambda: indexed_now(third) > 0 and all(indexed_now(w) > after_join[w.name] for w in first),
        120,
        "all three workers to index messages after the rebalance",
    )

    placed = steady.finish()
    try:
        rig.wait_indexed(len(placed), timeout=120)
    except AssertionError:
        _record_missing(rig, placed)
        raise
    docs = rig.documents()
    ids = Counter(d["_id"] for d in docs)
    assert not [i for i, n in ids.items() if n > 1], "a message was indexed twice"
    missing, unexpected = set(placed) - set(ids), set(ids) - set(placed)
    assert not missing and not unexpected, f"missing {sorted(missing)[:10]}, extra {unexpected}"
    positions = {
        d["_id"]: (d["kafka"]["topic"], d["kafka"]["partition"], d["kafka"]["offset"]) for d in docs
    }
    assert positions == placed, "every document comes from the record its id was sent as"
    assert {p for _, p, _ in placed.values()} == set(range(PARTITIONS))
    assert all(w.alive() for w in rig.workers)
    # Redelivered batches (in flight while partitions moved) are scored again and overwrite
    # their documents: the workers' own counts may exceed the messages, never fall short.
    assert sum(indexed(w) for w in rig.workers) >= len(placed)
    assert rig.dead_letters(expected=0, timeout=5) == []
    with ThreadPoolExecutor(3) as pool:  # stop them side by side: each takes a few seconds
        list(pool.map(WorkerProcess.stop, rig.workers))


def _record_missing(rig: StreamRig, placed: dict[str, tuple[str, int, int]]) -> None:
    """Where the messages that did not arrive were, which worker held what, and whether they
    arrive late (another two minutes) or never: the evidence a failure of this test needs."""
    got = {d["_id"] for d in rig.documents()}
    report: dict[str, object] = {
        "missing": {i: placed[i] for i in placed if i not in got},
        "assignment": [{t: sorted(p) for t, p in m.items()} for m in group_members(rig)],
        "workers": {w.name: {"health": w.health(), "indexed": indexed(w)} for w in rig.workers},
    }
    try:
        rig.wait_indexed(len(placed), timeout=120)
        report["later"] = "all arrived within another 120 s"
    except AssertionError as late:
        report["later"] = str(late)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "scale-out-missing.json").write_text(json.dumps(report, indent=2, default=str))


def test_shared_by_wants_equal_disjoint_shares_of_every_input() -> None:
    # A unit check of the condition the test waits on, so a wrong helper cannot pass it vacuously.
    news, chat = "news-x", "chat-x"
    even = [{news: {0, 1, 2}, chat: {0, 1, 2}}, {news: {3, 4, 5}, chat: {3, 4, 5}}]
    assert shared_by(even, 2)
    assert not shared_by(even, 3)
    uneven = [{news: {0, 1}, chat: {0, 1, 2}}, {news: {2, 3, 4, 5}, chat: {3, 4, 5}}]
    assert not shared_by(uneven, 2)
    one_topic = [{news: {0, 1, 2}}, {news: {3, 4, 5}}]
    assert not shared_by(one_topic, 2)
    overlap = [{news: {0, 1, 2}, chat: {0, 1, 2}}, {news: {2, 3, 4}, chat: {3, 4, 5}}]
    assert not shared_by(overlap, 2)
