"""Real Kafka and Elasticsearch for integration tests.

The session fixture starts the local services that ``infra/`` manages (or reuses them when they
are already up, e.g. after ``moodwatch infra up``). Every test gets its own topic and index
names, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from elasticsearch import Elasticsearch

from moodwatch.settings import Settings, load_settings
from stream.connections import elasticsearch, kafka_options
from stream.topics import create_topics
from tests.integration.streamkit import StreamRig


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def services() -> Settings:
    """Settings pointing at running local Kafka + Elasticsearch (started if needed)."""
    from infra.services import ensure_running

    settings = load_settings()
    ensure_running(settings)
    return settings


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test (or earlier run) uses: ``unique("news")`` → ``news-3f9a1c2e``."""
    token = uuid.uuid4().hex[:8]
    return lambda base: f"{base}-{token}"


@pytest.fixture
async def create_topic(services: Settings) -> AsyncIterator[Callable[..., object]]:
    admin = AIOKafkaAdminClient(**kafka_options(services))
    await admin.start()
    created: list[str] = []

    async def create(name: str, partitions: int = 1) -> str:
        await create_topics(
            admin, [NewTopic(name, num_partitions=partitions, replication_factor=1)]
        )
        created.append(name)
        return name

    yield create
    if created:
        await admin.delete_topics(created)
    await admin.close()


@pytest.fixture
def es(services: Settings) -> Iterator[Elasticsearch]:
    client = elasticsearch(services)
    yield client
    client.close()


@pytest.fixture
def rig(  # type: ignore[no-untyped-def]
    services: Settings, es: Elasticsearch, unique, tiny_registry, tmp_path
) -> Iterator[StreamRig]:
    """Unique topics (4 partitions), index prefix and consumer group for one stream test,
    served by the tiny model; workers started through it are stopped afterwards."""
    env = {
        "MOODWATCH_TOPIC_NEWS": unique("news"),
        "MOODWATCH_TOPIC_CHAT": unique("chat"),
        "MOODWATCH_TOPIC_DEAD_LETTER": unique("dead-letter"),
        "MOODWATCH_TOPIC_LABELS": unique("labels"),
        "MOODWATCH_TOPIC_ALERTS": unique("alerts"),
        "MOODWATCH_TOPIC_MODEL_UPDATES": unique("model-updates"),
        "MOODWATCH_TOPIC_PARTITIONS": "4",
        "MOODWATCH_ES_INDEX_PREFIX": unique("mwtest"),
        "MOODWATCH_WORKER_GROUP": unique("workers"),
        "MOODWATCH_REGISTRY_PATH": str(tiny_registry.root),
        "MOODWATCH_BATCH_MAX_WAIT_S": "0.2",
        "MOODWATCH_ES_RETRY_MAX_S": "2",
        "MOODWATCH_LOG_FORMAT": "json",
        "MOODWATCH_INFRA_HOME": str(tmp_path / "var"),
    }
    stream_rig = StreamRig(services, env, es, tmp_path)
    asyncio.run(_create_topics(services, env))
    yield stream_rig
    stream_rig.close()


async def _create_topics(settings: Settings, env: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        names = [
            v
            for k, v in env.items()
            if k.startswith("MOODWATCH_TOPIC_") and k != "MOODWATCH_TOPIC_PARTITIONS"
        ]
        await create_topics(
            admin, [NewTopic(n, num_partitions=4, replication_factor=1) for n in names]
        )
    finally:
        await admin.close()
