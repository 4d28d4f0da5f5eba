"""One retrain at a time across processes: a lock document in Elasticsearch.

The lock is the document ``retrain`` in ``<prefix>-retrain-lock``. Taking it is a ``create``
(fails if it exists); taking over an expired one and renewing or releasing one's own are
conditional on the ``_seq_no``/``_primary_term`` just read (optimistic concurrency), so two
processes can never both believe they hold it. A holder that dies leaves a lock that expires after
``ttl_s``; a live holder renews it between stages.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from retrain.errors import LockHeld, RetrainError
from stream.label_index import create_index

LOCK_ID = "retrain"


def lock_index(prefix: str) -> str:
    return f"{prefix}-retrain-lock"


def _body() -> dict[str, Any]:
    return {
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "owner": {"type": "keyword"},
                "acquired_at": {"type": "date"},
                "expires_at": {"type": "date"},
            },
        },
    }


class RetrainLock:
    """``with RetrainLock(client, prefix, ttl_s):`` — raises :class:`LockHeld` if taken."""

    def __init__(self, client: Elasticsearch, prefix: str, ttl_s: float) -> None:
        self.client = client
        self.index = lock_index(prefix)
        self.ttl = timedelta(seconds=ttl_s)
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._seq: tuple[int, int] | None = None

    def _doc(self, now: datetime) -> dict[str, str]:
        return {
            "owner": self.owner,
            "acquired_at": now.isoformat(),
            "expires_at": (now + self.ttl).isoformat(),
        }

    def acquire(self) -> None:
        now = datetime.now(UTC)
        try:
            create_index(self.client, self.index, _body())
            try:
                done = self.client.create(
                    index=self.index, id=LOCK_ID, document=self._doc(now), refresh=True
                )
            except ConflictError:
                held = self.client.get(index=self.index, id=LOCK_ID)
                expires = datetime.fromisoformat(held["_source"]["expires_at"])
                if expires > now:
                    raise LockHeld(
                        f"a retrain is running in {held['_source']['owner']} "
                        f"(lock until {expires.isoformat(timespec='seconds')})"
                    ) from None
                try:  # expired: take it over, unless someone else just did
                    done = self.client.index(
                        index=self.index,
                        id=LOCK_ID,
                        document=self._doc(now),
                        if_seq_no=held["_seq_no"],
                        if_primary_term=held["_primary_term"],
                        refresh=True,
                    )
                except ConflictError:
                    raise LockHeld("another process took over the expired retrain lock") from None
        except TransportConnectionError as exc:
            raise RetrainError(f"cannot reach Elasticsearch for the retrain lock: {exc}") from exc
        self._seq = (done["_seq_no"], done["_primary_term"])

    def renew(self) -> None:
        """Push the expiry out again; raises :class:`LockHeld` if the lock was lost."""
        if self._seq is None:
            raise RetrainError("cannot renew a retrain lock this process does not hold")
        try:
            done = self.client.index(
                index=self.index,
                id=LOCK_ID,
                document=self._doc(datetime.now(UTC)),
                if_seq_no=self._seq[0],
                if_primary_term=self._seq[1],
                refresh=True,
            )
        except ConflictError:
            self._seq = None
            raise LockHeld("the retrain lock expired and was taken over") from None
        self._seq = (done["_seq_no"], done["_primary_term"])

    def release(self) -> None:
        if self._seq is None:
            return
        try:
            self.client.delete(
                index=self.index,
                id=LOCK_ID,
                if_seq_no=self._seq[0],
                if_primary_term=self._seq[1],
                refresh=True,
            )
        except (ConflictError, NotFoundError):
            pass  # expired and taken over (or gone): nothing of ours to release
        finally:
            self._seq = None

    def __enter__(self) -> RetrainLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
