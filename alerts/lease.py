"""Exactly one evaluator: a lease document in the alerts index.

The lease ``lease:<name>`` says who evaluates (``holder``) and until when (``expires_at``).
A process may take it when it is missing, expired, or already its own, and only by a write
conditional on the version it read (``create`` or ``if_seq_no``/``if_primary_term``), so of two
standbys racing for an expired lease exactly one wins. The holder renews it every cycle; if it
dies, a standby takes over once ``ttl`` has passed. A holder that cannot renew stops acting at
once; its late writes to episodes then fail their own version checks instead of doubling.

Clocks: expiry compares wall-clock times of different processes, so hosts need NTP-level sync
(a skew eats into the TTL).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from alerts.errors import ConflictError
from alerts.store import AlertStore

log = logging.getLogger(__name__)


class Lease:
    def __init__(
        self, store: AlertStore, holder: str, ttl: timedelta, name: str = "alerter"
    ) -> None:
        self.store = store
        self.holder = holder
        self.ttl = ttl
        self.doc_id = f"lease:{name}"
        self.held_until: datetime | None = None

    def held(self, now: datetime) -> bool:
        return self.held_until is not None and now < self.held_until

    def acquire(self, now: datetime) -> bool:
        """Take or renew the lease; True when this process holds it until ``now + ttl``."""
        was_held = self.held(now)
        found = self.store.get(self.doc_id)
        document = {
            "kind": "lease",
            "holder": self.holder,
            "expires_at": (now + self.ttl).isoformat(),
            "created_at": now.isoformat(),
        }
        if found is not None:
            current, version = found
            mine = current.get("holder") == self.holder
            expired = datetime.fromisoformat(str(current["expires_at"])) <= now
            if not (mine or expired):
                self._lose(was_held, f"held by {current.get('holder')}")
                return False
        else:
            version = None
        try:
            self.store.put(self.doc_id, document, version)
        except ConflictError:
            self._lose(was_held, "another evaluator took it first")
            return False
        if not was_held:
            log.info(
                "alerter %s now holds the evaluation lease (ttl %ss)",
                self.holder,
                self.ttl.total_seconds(),
            )
        self.held_until = now + self.ttl
        return True

    def release(self) -> None:
        """Give the lease up (on a clean stop), so a standby takes over without waiting."""
        found = self.store.get(self.doc_id)
        if found is None or found[0].get("holder") != self.holder:
            return
        try:
            self.store.delete(self.doc_id, found[1])
        except ConflictError:
            return
        finally:
            self.held_until = None

    def _lose(self, was_held: bool, why: str) -> None:
        if was_held:
            log.warning("alerter %s lost the evaluation lease: %s", self.holder, why)
        self.held_until = None
