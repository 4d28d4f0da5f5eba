"""Topic creation waits out a broker that has not named its controller yet."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import NewTopic

from stream.errors import StreamError
from stream.topics import create_topics


class ControllerlessAdmin:
    """Fails like aiokafka 0.14 does while metadata lists no brokers, ``misses`` times."""

    def __init__(self, misses: int) -> None:
        self.misses = misses
        self.created: list[str] = []

    async def create_topics(self, topics: list[NewTopic]) -> None:
        if self.misses > 0:
            self.misses -= 1
            raise AttributeError("'NoneType' object has no attribute 'nodeId'")
        self.created.extend(t.name for t in topics)


def test_creation_is_retried_until_a_controller_is_known() -> None:
    admin = ControllerlessAdmin(misses=3)
    asyncio.run(create_topics(admin, [NewTopic("news", 1, 1)], wait_s=10))
    assert admin.created == ["news"]
    assert admin.misses == 0


def test_no_controller_for_the_whole_wait_is_a_stream_error() -> None:
    admin = ControllerlessAdmin(misses=10_000)
    with pytest.raises(StreamError, match="named no controller"):
        asyncio.run(create_topics(admin, [NewTopic("news", 1, 1)], wait_s=0.3))
    assert admin.created == []


def test_other_attribute_errors_are_not_swallowed() -> None:
    class Broken:
        async def create_topics(self, topics: list[NewTopic]) -> None:
            raise AttributeError("'Broken' object has no attribute 'misspelt'")

    with pytest.raises(AttributeError, match="misspelt"):
        asyncio.run(create_topics(Broken(), [NewTopic("news", 1, 1)]))
