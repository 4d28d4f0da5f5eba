"""End to end on the real services: chat fed through Kafka, scored by a real worker (tiny
model), indexed, evaluated by a real alerter, delivered to a local webhook — once, then resolved.

The rule counts volume per source, so the test does not depend on what the tiny model thinks
of the texts: the burst is the only source that crosses the threshold.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from tests.integration.alertkit import WebhookReceiver, start_alerter
from tests.integration.streamkit import StreamRig, wait_for

INTERVAL_S = 1.0


def chat(n: int, source: str, text: str) -> tuple[str, bytes]:
    body = {
        "id": f"{source}-{n}",
        "text": f"{text} #{n}",
        "source": source,
        "created_at": datetime.now(UTC).isoformat(),
    }
    return "chat", json.dumps(body).encode()


def test_a_burst_fed_through_kafka_fires_once_for_its_group_and_resolves(
    rig: StreamRig, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "name": "chat-burst",
                "filter": {"channel": "chat"},
                "group_by": "source",
                "window": "20s",
                "condition": {"type": "volume", "above": 30},
                "resolve_after": 2,
                "notify": ["log", "webhook"],
            }
        )
    )
    webhook = WebhookReceiver().start()
    rig.start_worker("worker-a")
    env = {
        **rig.env,
        "MOODWATCH_ALERT_RULES_PATH": str(rules),
        "MOODWATCH_ALERT_EVAL_INTERVAL_S": str(INTERVAL_S),
        "MOODWATCH_ALERT_WEBHOOK_URL": webhook.url,
    }
    alerter = start_alerter("alerter", env, tmp_path)
    try:
        calm = [chat(i, "calm-queue", "where is my parcel") for i in range(10)]
        assert rig.produce(calm) == 10
        rig.wait_indexed(10, timeout=120)
        burst = [chat(i, "angry-queue", "refund still not here, furious") for i in range(60)]
        assert rig.produce(burst) == 60
        rig.wait_indexed(70, timeout=120)
        searchable = time.time()

        wait_for(lambda: bool(webhook.notices("firing")), INTERVAL_S + 10, "the firing notice")
        assert webhook.received[0][0] - searchable <= INTERVAL_S + 10
        wait_for(lambda: bool(webhook.notices("resolved")), 60, "the resolved notice")
        alerter.stop()

        fired = [n["moodwatch"]["episode_id"] for n in webhook.notices("firing")]
        resolved = [n["moodwatch"]["episode_id"] for n in webhook.notices("resolved")]
        assert fired == resolved == ["chat-burst:angry-queue:1"]
        assert "angry-queue" in webhook.notices("firing")[0]["blocks"][0]["text"]["text"]
    finally:
        alerter.stop()
        webhook.stop()
