"""Invariant 2 against a live worker, field by field: hypothesis fills every field of the message
contract with hostile values (lone surrogates, control characters, huge strings, deep nesting,
wrong types) and adds whole records from 0 bytes to 2 MB. Every record must end exactly once —
indexed or dead-lettered — and the worker must stay up."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from stream.connections import kafka_options
from stream.contract import FIELDS
from tests.integration.streamkit import StreamRig, wait_for

BIG = 2 * 1024 * 1024

hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "line\nbreak", "\x7f\x9f", " ", ""]),
    st.integers(0, 3).map(lambda k: "x" * (10 ** (k + 2))),  # 100 B .. 100 KB
)
hostile_value: st.SearchStrategy[Any] = st.one_of(
    hostile_text,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(hostile_text, max_size=3),
    st.integers(1, 40).map(lambda depth: json.loads("[" * depth + "]" * depth)),
    st.dictionaries(hostile_text, hostile_text, max_size=3),
)
FIELD_NAMES = [f.name for f in FIELDS if f.name != "id"]
hostile_record = st.fixed_dictionaries(
    {"text": st.one_of(st.just("a fine text"), hostile_value)},
    optional={name: hostile_value for name in FIELD_NAMES if name != "text"},
)
whole_record = st.one_of(
    st.integers(0, BIG).map(lambda n: b"y" * n),
    st.integers(1, BIG // 8).map(lambda n: json.dumps({"text": "z " * n}).encode()),
)


@pytest.mark.slow
def test_every_record_ends_exactly_once_and_the_worker_survives(rig: StreamRig) -> None:
    worker = rig.start_worker("w1")
    topic = rig.topic("chat")
    asyncio.run(_allow_big_records(rig, topic))
    sent: list[bytes] = []

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(hostile_record, min_size=1, max_size=5), st.lists(whole_record, max_size=1))
    def generate(records: list[dict[str, Any]], raws: list[bytes]) -> None:
        for record in records:
            record["id"] = f"fz-{len(sent)}"  # unique: a document per accepted offset
            sent.append(json.dumps(record).encode("utf-8", "surrogatepass"))
        sent.extend(raws)

    generate()
    offsets = asyncio.run(_produce(rig, topic, sent))
    assert len(offsets) == len(sent)

    def settled() -> bool:  # the worker has read every record and finished with each
        metrics = worker.metrics().splitlines()
        read = sum(float(line.split()[-1]) for line in metrics
                   if line.startswith("moodwatch_messages_in_total"))
        return read >= len(sent) and worker.health()["in_flight"] == 0

    wait_for(settled, 300, f"the worker to handle all {len(sent)} records", every=2.0)
    indexed = _indexed_offsets(rig, topic)
    dead = rig.dead_letters(expected=len(sent) - len(indexed), timeout=120)
    dead_offsets = Counter(
        (d["source"]["partition"], d["source"]["offset"])
        for d in dead
        if d["source"]["topic"] == topic
    )
    assert worker.alive(), worker.tail()
    doubled = {o: n for o, n in dead_offsets.items() if n > 1}
    read = [line for line in worker.metrics().splitlines()
            if line.startswith("moodwatch_messages_in_total")]
    assert not doubled, f"dead-lettered more than once: {doubled}; sent {len(sent)}, read {read}"
    assert not set(indexed) & set(dead_offsets), "a record both indexed and dead-lettered"
    assert set(indexed) | set(dead_offsets) == set(offsets), "a record was lost"
    too_large = [d for d in dead if d["reason"] == "too_large"]
    assert all(len(d["original_b64"]) < 400_000 for d in too_large)


async def _allow_big_records(rig: StreamRig, topic: str) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(rig.settings))
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": "4194304"})
        await admin.alter_configs([resource])
    finally:
        await admin.close()


async def _produce(rig: StreamRig, topic: str, values: list[bytes]) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(
        **kafka_options(rig.settings), acks="all", max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    try:
        sent = [await producer.send_and_wait(topic, value) for value in values]
        return [(meta.partition, meta.offset) for meta in sent]
    finally:
        await producer.stop()


def _indexed_offsets(rig: StreamRig, topic: str) -> list[tuple[int, int]]:
    if not rig.es.indices.exists_alias(name=rig.alias):
        return []
    return [
        (d["kafka"]["partition"], d["kafka"]["offset"])
        for d in rig.documents()
        if d["kafka"]["topic"] == topic
    ]

