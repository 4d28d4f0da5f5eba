"""Issue 11's language gate end to end: English, Chinese and Russian chat through a real worker
serving an English-only model; the others are indexed with their language and no sentiment, and
an alert rule's counts leave them out."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alerts.query import measure
from alerts.rules import AlertRule
from tests.integration.streamkit import StreamRig

MESSAGES = {
    "en-1": "the refund has not arrived after three weeks, this is awful",
    "en-2": "my card was charged twice and nobody answers",
    "zh-1": "这家银行的服务太差了，退款三周还没到账",
    "zh-2": "客服一直不回复，我非常失望",
    "ru-1": "Деньги так и не вернули, поддержка молчит уже неделю",
}


def test_unsupported_languages_are_indexed_unscored_and_left_out_of_alerts(
    rig: StreamRig,
) -> None:
    rig.start_worker("w1")
    now = datetime.now(UTC).isoformat()
    rig.produce(
        ("chat", json.dumps({"id": key, "text": text, "created_at": now}).encode())
        for key, text in MESSAGES.items()
    )
    rig.wait_indexed(len(MESSAGES), timeout=120)
    docs = {d["_id"]: d for d in rig.documents()}

    for key in ("en-1", "en-2"):
        assert docs[key]["lang"] == "en"
        assert docs[key]["sentiment"]["label"] in {"negative", "neutral", "positive"}
    for key, lang in (("zh-1", "zh"), ("zh-2", "zh"), ("ru-1", "ru")):
        assert docs[key]["lang"] == lang, docs[key]
        assert docs[key]["sentiment"] == {"label": "unsupported"}, "no label, no confidence"

    rule = AlertRule.model_validate(
        {
            "name": "chat-negative",
            "window": "10m",
            "filter": {"channel": "chat"},
            "condition": {"type": "negative_share", "above": 0.5, "min_count": 1},
            "notify": ["log"],
        }
    )
    numbers = measure(rig.es, rig.alias, rule, datetime.now(UTC))
    [group] = numbers.groups.values()
    assert group.current.count == 2, "only the two English messages are counted"
