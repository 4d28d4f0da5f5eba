"""Test doubles shipped with the package: an in-memory alert store with the same concurrency rules.

:class:`MemoryAlertStore` keeps documents in a dict with a sequence number per document and
refuses a write whose version is stale (or a ``create`` of an existing id) with the same
:class:`alerts.errors.ConflictError` as Elasticsearch, so the evaluator, lease and dispatcher
can be tested with a fake clock and several "processes" sharing one store, no services needed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerts.episodes import Episode
from alerts.errors import ConflictError
from alerts.store import AlertStore, Silence, Version, _track_from
from alerts.tracking import Track


class MemoryAlertStore(AlertStore):
    def __init__(self, prefix: str = "memory") -> None:
        self.client = None  # type: ignore[assignment]
        self.index = f"{prefix}-alerts"
        self.documents: dict[str, tuple[dict[str, Any], Version]] = {}
        self._seq = 0

    def ensure_index(self) -> None:
        return None

    def get(self, doc_id: str) -> tuple[dict[str, Any], Version] | None:
        found = self.documents.get(doc_id)
        return (dict(found[0]), found[1]) if found else None

    def put(self, doc_id: str, document: dict[str, Any], version: Version | None) -> Version:
        current = self.documents.get(doc_id)
        if version is None and current is not None:
            raise ConflictError(f"write {doc_id}: already exists")
        if version is not None and (current is None or current[1] != version):
            raise ConflictError(f"write {doc_id}: changed by another evaluator")
        self._seq += 1
        stored = Version(self._seq, 1)
        self.documents[doc_id] = (dict(document), stored)
        return stored

    def delete(self, doc_id: str, version: Version) -> None:
        current = self.documents.get(doc_id)
        if current is None or current[1] != version:
            raise ConflictError(f"delete {doc_id}: changed by another evaluator")
        del self.documents[doc_id]

    def _of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc, _ in self.documents.values() if doc.get("kind") == kind]

    def list_episodes(
        self,
        *,
        rule: str | None = None,
        state: str | None = None,
        since: datetime | None = None,
        pending_only: bool = False,
        size: int = 100,
    ) -> list[Episode]:
        episodes = [Episode.from_document(d) for d in self._of_kind("episode")]
        chosen = [
            e
            for e in episodes
            if (rule is None or e.rule == rule)
            and (state is None or e.state == state)
            and (since is None or e.last_breach >= since)
            and (not pending_only or bool(e.pending()))
        ]
        return sorted(chosen, key=lambda e: e.fired_at, reverse=True)[:size]

    def get_tracks(self, rule: str, groups: list[str]) -> dict[str, tuple[Track, Version]]:
        found: dict[str, tuple[Track, Version]] = {}
        for group in groups:
            entry = self.documents.get(self.track_id(rule, group))
            if entry is not None:
                found[group] = (_track_from(entry[0]["track"]), entry[1])
        return found

    def known_groups(self, rule: str) -> list[str]:
        return [str(d["group"]) for d in self._of_kind("track") if d["rule"] == rule]

    def silence(self, silence: Silence, now: datetime) -> None:
        self.documents[f"silence:{silence.rule}:{silence.group}"] = (
            {"kind": "silence", "rule": silence.rule, "group": silence.group,
             "until": silence.until.isoformat(), "comment": silence.comment},
            Version(0, 1),
        )  # fmt: skip

    def silences(self, now: datetime) -> list[Silence]:
        found = [
            Silence(str(d["rule"]), str(d["group"]), datetime.fromisoformat(d["until"]))
            for d in self._of_kind("silence")
        ]
        return [s for s in found if s.until > now]
