"""Two real ``moodwatch alerter`` processes on the real ES and Kafka, with a local webhook
(failing twice first) and a local SMTP server (aiosmtpd, STARTTLS): one episode, one notice per
kind per notifier, and the evaluating process killed mid-episode changes nothing of that. A
malformed rule file beside the good one is refused (named in /health) while the good one fires."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiosmtpd.controller import Controller
from elasticsearch import Elasticsearch

from alerts.store import AlertStore
from bench.seed_messages import scored
from moodwatch.settings import Settings
from stream.connections import kafka_options
from stream.topics import create_topics
from tests.integration.alertkit import WebhookReceiver, cleaned, seed, start_alerter
from tests.integration.streamkit import free_port, wait_for

INTERVAL_S = 1.0
RULE = {
    "name": "chat-share",
    "filter": {"channel": "chat"},
    "group_by": "topic",
    "window": "12s",
    "condition": {"type": "negative_share", "above": 0.6, "min_count": 10},
    "fire_after": 1,
    "resolve_after": 2,
    "notify": ["log", "kafka", "webhook", "email"],
}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(message_from_bytes(m)["Subject"]) for m in self.messages]


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Controller, Inbox, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True
    )
    controller.start()
    yield controller, inbox, cert
    controller.stop()


def read_topic(settings: Settings, topic: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            topic, **kafka_options(settings), auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=3000)
            return [json.loads(r.value) for records in batch.values() for r in records]
        finally:
            await consumer.stop()

    return asyncio.run(read())


def make_topic(settings: Settings, name: str) -> None:
    async def create() -> None:
        admin = AIOKafkaAdminClient(**kafka_options(settings))
        await admin.start()
        try:
            await create_topics(admin, [NewTopic(name, num_partitions=1, replication_factor=1)])
        finally:
            await admin.close()

    asyncio.run(create())


def chat(n: int, topic: str, sentiment: str, at: datetime) -> dict[str, object]:
    return scored(
        f"{topic}-{n}", at, topic=topic, channel="chat", source="queue-1",
        sentiment=sentiment, confidence=0.9, text=f"the refund failed again {n}",
    )  # fmt: skip


def test_two_alerters_one_episode_one_notice_each_even_when_the_leader_dies(
    services: Settings,
    es: Elasticsearch,
    unique: Callable[[str], str],
    tmp_path: Path,
    smtp: tuple[Controller, Inbox, Path],
) -> None:
    controller, inbox, cert = smtp
    webhook = WebhookReceiver(failures=2).start()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "chat.yaml").write_text(yaml.safe_dump(RULE))
    broken = {**RULE, "name": "broken", "window": "soon"}
    (rules / "broken.yaml").write_text(yaml.safe_dump(broken))
    alerts_topic = unique("alerts")
    make_topic(services, alerts_topic)
    with cleaned(es, unique("mwalerter")) as prefix:
        env = {
            "MOODWATCH_ES_INDEX_PREFIX": prefix,
            "MOODWATCH_TOPIC_ALERTS": alerts_topic,
            "MOODWATCH_ALERT_RULES_PATH": str(rules),
            "MOODWATCH_ALERT_EVAL_INTERVAL_S": str(INTERVAL_S),
            "MOODWATCH_ALERT_LEASE_TTL_S": "3",
            "MOODWATCH_ALERT_WEBHOOK_URL": webhook.url,
            "MOODWATCH_SMTP_HOST": "127.0.0.1",
            "MOODWATCH_SMTP_PORT": str(controller.port),
            "MOODWATCH_SMTP_TO": "oncall@example.test",
            "MOODWATCH_SMTP_CA_CERT": str(cert),
            "MOODWATCH_LOG_FORMAT": "json",
        }
        first = start_alerter("alerter-a", env, tmp_path)
        second = start_alerter("alerter-b", env, tmp_path)
        try:
            wait_for(lambda: first.leader() or second.leader(), 30, "one alerter to lead")
            assert not (first.leader() and second.leader())
            problems = first.health()["rule_problems"]
            assert any("broken.yaml: rule 'broken': window:" in p for p in problems), problems
            assert first.health()["rules"] == ["chat-share"]

            now = datetime.now(UTC)
            calm = [chat(i, "delivery", "neutral", now) for i in range(12)]
            burst = [
                chat(i, "refunds", "negative" if i % 10 else "neutral", now) for i in range(20)
            ]
            seed(es, prefix, calm + burst)
            searchable = time.time()

            wait_for(lambda: bool(webhook.notices("firing")), INTERVAL_S + 10, "the firing webhook")
            fired_at = webhook.received[0][0]
            assert fired_at - searchable <= INTERVAL_S + 10

            store = AlertStore(es, prefix)

            def firing_recorded() -> bool:
                found = store.get_episode("chat-share:refunds:1")
                return found is not None and all(
                    n.outcome == "sent" for n in found[0].notifications if n.kind == "firing"
                )

            # Kill after the firing notices are recorded (a kill between a send and its record
            # is the documented at-least-once window), before the episode resolves.
            wait_for(firing_recorded, 30, "the firing notices to be recorded")
            assert store.get_episode("chat-share:refunds:1")[0].state == "firing"  # type: ignore[index]
            leader, standby = (first, second) if first.leader() else (second, first)
            leader.kill()  # mid-episode: the standby must continue it, not open a new one
            wait_for(lambda: standby.leader(), 30, "the standby to take over")
            wait_for(lambda: bool(webhook.notices("resolved")), 60, "the resolved webhook")
            wait_for(lambda: len(inbox.messages) >= 2, 30, "both e-mails")
            metrics = standby.metrics()
            assert 'moodwatch_alert_notifications_total{notifier="webhook",outcome="sent"} 1.0' in (
                metrics
            )  # the standby sent the resolved notice, and only that
            assert 'moodwatch_alert_evaluations_total{outcome="ok",rule="chat-share"}' in metrics
            assert "moodwatch_alert_leader 1.0" in metrics
            standby.stop()  # any duplicate would have been sent by now

            assert webhook.attempts == 2 + len(webhook.received)  # failed twice, then delivered
            assert len(webhook.notices("firing")) == 1
            assert len(webhook.notices("resolved")) == 1
            assert webhook.notices("firing")[0]["moodwatch"]["episode_id"] == "chat-share:refunds:1"

            es.indices.refresh(index=f"{prefix}-alerts")
            episodes = store.list_episodes()
            assert [(e.id, e.state) for e in episodes] == [("chat-share:refunds:1", "resolved")]
            outcomes = {(n.kind, n.notifier): n.outcome for n in episodes[0].notifications}
            assert set(outcomes.values()) == {"sent"}
            assert len(episodes[0].notifications) == 8  # 2 kinds x 4 notifiers, no repeats
            webhook_firing = [
                n
                for n in episodes[0].notifications
                if (n.kind, n.notifier) == ("firing", "webhook")
            ]
            assert webhook_firing[0].attempts == 3

            subjects = inbox.subjects()
            assert len(subjects) == 2
            assert "[FIRING] chat-share / refunds" in subjects[0]
            assert "[RESOLVED] chat-share / refunds" in subjects[1]

            notices = read_topic(services, alerts_topic)
            assert sorted(n["notice"] for n in notices) == ["firing", "resolved"]
            assert {n["episode"]["id"] for n in notices} == {"chat-share:refunds:1"}
        finally:
            for process in (first, second):
                process.stop()
            webhook.stop()
