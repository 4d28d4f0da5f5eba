"""The commit guard: only records the worker finished reach the consumer's ack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stream.commit_guard import CommitGuard


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int


class Consumer:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, message: Any) -> bool:
        self.acked.append(message.offset)
        return True


def test_a_skipped_record_is_not_acknowledged_and_a_finished_one_is() -> None:
    refused: list[str] = []
    guard, consumer = CommitGuard(on_refused=refused.append), Consumer()
    guard.install(consumer)
    finished, skipped = Record("chat", 5, 0), Record("chat", 5, 1)
    with guard.finishing([finished]):
        assert consumer.ack(finished) is True
    assert consumer.ack(skipped) is False  # Faust's ack of a record it skipped in a rebalance
    assert consumer.acked == [0]
    assert refused == ["chat"] and guard.refused == 1


def test_the_mark_ends_with_the_block_and_installing_twice_wraps_once() -> None:
    guard, consumer = CommitGuard(), Consumer()
    guard.install(consumer)
    guard.install(consumer)
    record = Record("news", 0, 7)
    with guard.finishing([record]):
        pass
    assert consumer.ack(record) is False
    guard.finish(record)  # a label: Faust acks it after our loop body
    assert consumer.ack(record) is True
    assert consumer.ack(record) is False  # one mark, one ack
    assert consumer.acked == [7]
