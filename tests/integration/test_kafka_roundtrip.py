"""Produce and consume through the real broker: partitions, keys, consumer-group commits."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from moodwatch.settings import Settings
from stream.connections import kafka_options


async def test_keyed_messages_spread_over_partitions_and_group_commits(
    services: Settings,
    create_topic,
    unique,  # type: ignore[no-untyped-def]
) -> None:
    topic = await create_topic(unique("roundtrip"), partitions=3)
    group = unique("group")
    producer = AIOKafkaProducer(**kafka_options(services), acks="all")
    await producer.start()
    try:
        sent = [(f"key-{i % 17}".encode(), f"message {i}".encode()) for i in range(300)]
        for key, value in sent:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        **kafka_options(services),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: dict[int, list[bytes]] = defaultdict(list)
    keys_by_partition: dict[bytes, set[int]] = defaultdict(set)
    try:
        async with asyncio.timeout(60):
            while sum(len(v) for v in received.values()) < len(sent):
                batch = await consumer.getmany(timeout_ms=1000)
                for tp, records in batch.items():
                    for record in records:
                        received[tp.partition].append(record.value)
                        keys_by_partition[record.key].add(tp.partition)
        await consumer.commit()
        partitions = [TopicPartition(topic, p) for p in range(3)]
        ends = await consumer.end_offsets(partitions)
        committed = {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()

    values = sorted(v for part in received.values() for v in part)
    assert values == sorted(v for _, v in sent)
    assert len(received) == 3, "keys should spread over all three partitions"
    assert all(len(parts) == 1 for parts in keys_by_partition.values()), (
        "a key stays on one partition"
    )
    for part in received.values():  # order within a partition is the order sent
        numbers = [int(v.split()[1]) for v in part]
        assert numbers == sorted(numbers)
    assert committed == ends

    # A new member of the same group resumes after the commit: nothing is delivered twice.
    again = AIOKafkaConsumer(
        topic, **kafka_options(services), group_id=group, enable_auto_commit=False
    )
    await again.start()
    try:
        assert await again.getmany(timeout_ms=3000) == {}
    finally:
        await again.stop()
