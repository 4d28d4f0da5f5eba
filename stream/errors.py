"""Errors of the stream component, under :class:`moodwatch.errors.MoodwatchError`."""

from __future__ import annotations

from moodwatch.errors import MoodwatchError, ServiceUnavailable


class StreamError(MoodwatchError):
    """Kafka or Elasticsearch I/O failed for good, or the stream was misconfigured."""


class IndexingError(StreamError):
    """Elasticsearch refused a request in a way retrying will not fix."""


class KafkaUnavailable(StreamError, ServiceUnavailable):
    """Kafka cannot be reached (not running, wrong address, refused the connection)."""


class IndexUnavailable(StreamError, ServiceUnavailable):
    """Elasticsearch is unreachable or overloaded (429/5xx): retry after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
