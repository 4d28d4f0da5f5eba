"""Real Kafka and Elasticsearch for integration tests.

The session fixture starts the local services that ``infra/`` manages (or reuses them when they
are already up, e.g. after ``moodwatch infra up``). Every test gets its own topic and index
names, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from elasticsearch import Elasticsearch

from moodwatch.settings import Settings, load_settings
from stream.connections import elasticsearch, kafka_options


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
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
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
