"""The worker's labels agent on real Kafka + Elasticsearch: a label sent on the labels topic is
joined to its scored message and stored; a label for an unknown message or class lands in the
dead-letter topic with its reason."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from aiokafka.admin import AIOKafkaAdminClient

from stream.connections import kafka_options
from tests.integration.streamkit import StreamRig, wait_for


def committed(rig: StreamRig) -> dict[str, int]:
    """The workers' group's committed offsets, summed per topic."""

    async def read() -> dict[str, int]:
        admin = AIOKafkaAdminClient(**kafka_options(rig.settings))
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(rig.env["MOODWATCH_WORKER_GROUP"])
        finally:
            await admin.close()
        totals: dict[str, int] = {}
        for tp, meta in offsets.items():
            totals[tp.topic] = totals.get(tp.topic, 0) + max(meta.offset, 0)
        return totals

    return asyncio.run(read())


def test_labels_reach_the_index_and_bad_ones_the_dead_letter_topic(rig: StreamRig) -> None:
    rig.start_worker("w1")
    body = {"id": "lab-1", "text": "the refund never arrived", "channel": "chat"}
    rig.produce([("chat", json.dumps(body).encode())])
    rig.wait_indexed(1, timeout=120)

    now = datetime.now(UTC).isoformat()
    labels = [
        {"message_id": "lab-1", "sentiment": "negative", "labeler": "ana", "labeled_at": now},
        {"message_id": "no-such-message", "sentiment": "negative", "labeler": "ana",
         "labeled_at": now},
        {"message_id": "lab-1", "sentiment": "furious", "labeler": "bo", "labeled_at": now},
    ]
    rig.produce_to(rig.env["MOODWATCH_TOPIC_LABELS"], [json.dumps(x).encode() for x in labels])

    index = f"{rig.env['MOODWATCH_ES_INDEX_PREFIX']}-labels"

    def stored() -> bool:
        if not rig.es.indices.exists(index=index):
            return False
        rig.es.indices.refresh(index=index)
        return int(rig.es.count(index=index)["count"]) >= 1

    wait_for(stored, 120, "the label in the labels index")
    doc = rig.es.get(index=index, id="lab-1:ana")["_source"]
    assert doc["sentiment"] == "negative"
    assert "refund" in json.dumps(doc)  # joined to the message's text
    letters = rig.dead_letters(expected=2, timeout=120)
    assert sorted(d["reason"] for d in letters) == ["bad_label", "unknown_message"] or sorted(
        d["reason"] for d in letters
    ) == ["unknown_class", "unknown_message"]
    assert int(rig.es.count(index=index)["count"]) == 1
    # The commit guard (stream/commit_guard.py) lets every finished record move the offsets:
    # the scored message, the stored label and the two dead-lettered ones.
    want = {rig.topic("chat"): 1, rig.env["MOODWATCH_TOPIC_LABELS"]: 3}
    wait_for(
        lambda: {t: committed(rig).get(t) for t in want} == want, 60, f"commits to reach {want}"
    )
