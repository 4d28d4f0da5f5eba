"""Labels topic → :class:`LabelStore` → labels index, refused labels → dead-letter topic.

A plain aiokafka consumer loop doing what the worker's labels agent does, for the benchmark and
the tests (and for a deployment that wants labels handled outside the scoring workers). Offsets
are committed only after every record of a batch is stored or dead-lettered, so a crash replays
instead of losing labels; a replay is harmless (same ``_id``, same external version).
"""

from __future__ import annotations

from collections import Counter

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from moodwatch.settings import Settings
from stream.connections import kafka_options
from stream.labels import LabelStore, Refused, Stored
from stream.records import Position


class LabelRelay:
    def __init__(self, settings: Settings, store: LabelStore, group: str) -> None:
        self.settings = settings
        self.store = store
        self.group = group
        self.counts: Counter[str] = Counter()

    async def run(self, expected: int) -> Counter[str]:
        """Handle records until ``expected`` were handled; returns counts per outcome and
        per dead-letter reason (``refused:<reason>``)."""
        options = kafka_options(self.settings)
        consumer = AIOKafkaConsumer(
            self.settings.topic_labels,
            **options,
            group_id=self.group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        producer = AIOKafkaProducer(**options, acks="all")
        await consumer.start()
        await producer.start()
        try:
            handled = 0
            while handled < expected:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for tp, records in batches.items():
                    for record in records:
                        where = Position(tp.topic, tp.partition, record.offset)
                        outcome = await self.store.handle(record.value, where, record.key)
                        if isinstance(outcome, Refused):
                            await producer.send_and_wait(
                                self.settings.topic_dead_letter,
                                outcome.dead_letter,
                                key=record.key,
                            )
                            self.counts["refused"] += 1
                            self.counts[f"refused:{outcome.rejection.reason.value}"] += 1
                        else:
                            kind = "stored" if isinstance(outcome, Stored) else "superseded"
                            self.counts[kind] += 1
                        handled += 1
                if batches:
                    await consumer.commit()
        finally:
            await producer.stop()
            await consumer.stop()
        return self.counts
