"""Kafka: can we reach the brokers, and do moodwatch's topics exist with enough partitions.

One metadata request through the same client options the workers use (security included),
bounded by the timeout, so a stopped broker or a port held by something else answers in
seconds. Kafka does not announce its software version over the protocol: the version shown is
the local service's (``infra/``) when the broker is the one ``moodwatch infra up`` started.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from infra import probes
from infra.config import KAFKA_VERSION, plan
from infra.pidfile import owned_pid
from moodwatch.doctor.findings import Finding, fail, ok, warn
from moodwatch.settings import Settings
from stream.connections import kafka_options

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_local_kafka(settings: Settings) -> bool:
    """The bootstrap list is the local service (``moodwatch infra``) rather than a cluster."""
    return all(
        host in LOOPBACK and port == str(settings.kafka_port)
        for host, _, port in (s.rpartition(":") for s in settings.bootstrap_servers)
    )


def expected_topics(settings: Settings) -> dict[str, str]:
    """Role → topic name, for every topic the workers, alerter and scheduler use."""
    return {
        "input (news)": settings.topic_news,
        "input (chat)": settings.topic_chat,
        "dead letters": settings.topic_dead_letter,
        "labels": settings.topic_labels,
        "alerts": settings.topic_alerts,
        "model updates": settings.topic_model_updates,
    }


async def kafka_metadata(settings: Settings, timeout_s: float) -> dict[str, int] | None:
    """Partitions per topic; None for a cluster with no broker listed. Raises KafkaError or
    TimeoutError when Kafka cannot be reached in time."""
    client = AIOKafkaClient(
        **kafka_options(settings),
        request_timeout_ms=int(timeout_s * 1000),
        retry_backoff_ms=100,
        client_id="moodwatch-doctor",
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s + 1)
        cluster = await asyncio.wait_for(client.fetch_all_metadata(), timeout_s + 1)
        if not cluster.brokers():
            return None
        return {t: len(cluster.partitions_for_topic(t) or ()) for t in cluster.topics()}
    finally:
        await client.close()


def check_kafka(settings: Settings, timeout_s: float) -> list[Finding]:
    """The reachability finding, then (when reachable) the topics finding."""
    where = settings.kafka_bootstrap_servers
    local = is_local_kafka(settings)
    try:
        topics = asyncio.run(kafka_metadata(settings, timeout_s))
    except (KafkaError, OSError, TimeoutError) as exc:
        if local and not probes.port_is_free(settings.kafka_port):
            fix = (
                f"port {settings.kafka_port} is held by something that does not answer as Kafka "
                f"(see `port {settings.kafka_port}`): stop it, or move ours with "
                "MOODWATCH_KAFKA_PORT and MOODWATCH_KAFKA_BOOTSTRAP_SERVERS"
            )
        elif local:
            fix = "start it: `moodwatch infra up` (then `moodwatch infra status`)"
        else:
            fix = (
                "check MOODWATCH_KAFKA_BOOTSTRAP_SERVERS and the MOODWATCH_KAFKA_SECURITY_* "
                "settings, and that the brokers are up"
            )
        reason = str(exc) or type(exc).__name__
        return [fail("kafka", f"cannot reach Kafka at {where}: {reason}", fix, unreachable=True)]
    if topics is None:
        return [fail("kafka", f"Kafka at {where} answers but lists no broker",
                     "the broker is still starting: wait a few seconds and run doctor again",
                     unreachable=True)]
    version = _local_version(settings) if local else None
    shown = f"Kafka {version}" if version else "Kafka (version not reported by the protocol)"
    reach = ok("kafka", f"{shown} answers at {where}", version=version)
    return [reach, check_topics(settings, topics)]


def check_topics(settings: Settings, partitions: dict[str, int]) -> Finding:
    wanted = expected_topics(settings)
    found: dict[str, Any] = {name: partitions.get(name) for name in wanted.values()}
    missing = [f"{name} ({role})" for role, name in wanted.items() if name not in partitions]
    if missing:
        return fail(
            "topics",
            "missing: " + ", ".join(missing),
            "start a worker once, it creates them: `moodwatch worker` (or `moodwatch demo run`)",
            partitions=found,
        )
    inputs = (settings.topic_news, settings.topic_chat)
    short = [n for n in inputs if partitions[n] < settings.topic_partitions]
    listing = ", ".join(f"{name} {count}" for name, count in found.items())
    if short:
        return warn(
            "topics",
            f"partitions: {listing}; {', '.join(short)} has fewer than "
            f"MOODWATCH_TOPIC_PARTITIONS={settings.topic_partitions}",
            "a topic's partitions cap how many workers share it; add some with "
            "`kafka-topics.sh --alter --topic NAME --partitions N` (see docs/production.md)",
            partitions=found,
        )
    return ok("topics", f"partitions: {listing}", partitions=found)


def _local_version(settings: Settings) -> str | None:
    return KAFKA_VERSION if owned_pid(plan(settings, "kafka"), forget_stale=False) else None
