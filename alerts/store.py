"""The ``<prefix>-alerts`` index: episodes, per-group tracks, silences and the evaluator lease.

One index, four kinds of document (field ``kind``), explicit mapping, created idempotently.
Every write that changes existing state is conditional on the ``_seq_no``/``_primary_term``
read before it (:class:`ConflictError` otherwise) and every first write is a ``create``, so two
evaluators, or one restarted mid-episode, can never double or lose a transition. Reads by id are
real-time (no refresh needed).

Read API for the dashboard and the CLI: :meth:`AlertStore.list_episodes`,
:meth:`AlertStore.get_episode`, :meth:`AlertStore.silences`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, Elasticsearch, NotFoundError
from elasticsearch import ConflictError as EsConflict

from alerts.episodes import Episode
from alerts.errors import ConflictError, StoreError
from alerts.tracking import Track

ALERTS_MAPPING_VERSION = 1

_K = {"type": "keyword"}
_D = {"type": "date"}
_I = {"type": "integer"}
_OFF = {"type": "object", "enabled": False}

ALERTS_PROPERTIES: dict[str, Any] = {
    "kind": _K,  # episode | track | silence | lease
    "id": _K,
    "rule": _K,
    "group": _K,
    "number": _I,
    "state": _K,
    "route": _K,
    "severity": _K,
    "description": {"type": "text"},
    "reason": {"type": "text"},
    "first_breach": _D,
    "last_breach": _D,
    "fired_at": _D,
    "resolved_at": _D,
    "window_from": _D,
    "window_to": _D,
    "numbers": _OFF,
    "last_numbers": _OFF,
    "groups_truncated": _OFF,
    "evidence": _OFF,
    "link": {"type": "keyword", "index": False},
    "notifications": _OFF,
    "has_pending": {"type": "boolean"},
    # track
    "track": _OFF,
    # silence
    "until": _D,
    "created_at": _D,
    "comment": {"type": "text"},
    # lease
    "holder": _K,
    "expires_at": _D,
}


@dataclass(frozen=True)
class Version:
    """Where a document stood when read: pass it back to write conditionally."""

    seq_no: int
    primary_term: int


@dataclass(frozen=True)
class Silence:
    rule: str
    group: str  # "*" = every group of the rule
    until: datetime
    comment: str = ""

    def covers(self, rule: str, group: str, now: datetime) -> bool:
        return self.rule == rule and self.group in ("*", group) and now < self.until


def _version(response: Any) -> Version:
    return Version(int(response["_seq_no"]), int(response["_primary_term"]))


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except EsConflict as exc:
        raise ConflictError(f"{what}: changed by another evaluator") from exc
    except TransportConnectionError as exc:
        raise StoreError(f"{what}: cannot reach Elasticsearch: {exc}") from exc
    except ApiError as exc:
        raise StoreError(f"{what}: Elasticsearch refused: {exc}") from exc


class AlertStore:
    """Alert state in Elasticsearch, for one index prefix."""

    def __init__(self, client: Elasticsearch, prefix: str) -> None:
        self.client = client
        self.index = f"{prefix}-alerts"

    def ensure_index(self) -> None:
        """Create the index with its mapping if missing (idempotent, safe to race)."""
        settings = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}
        mappings: dict[str, Any] = {
            "dynamic": "strict",
            "_meta": {"moodwatch_mapping_version": ALERTS_MAPPING_VERSION},
            "properties": ALERTS_PROPERTIES,
        }
        with _translated(f"create index {self.index}"):
            if self.client.indices.exists(index=self.index):
                return
            try:
                self.client.indices.create(index=self.index, settings=settings, mappings=mappings)
            except ApiError as exc:
                if "resource_already_exists" not in str(exc):
                    raise

    # --- raw documents -----------------------------------------------------------------------
    def get(self, doc_id: str) -> tuple[dict[str, Any], Version] | None:
        with _translated(f"read {doc_id}"):
            try:
                response = self.client.get(index=self.index, id=doc_id)
            except NotFoundError:
                return None
        return dict(response["_source"]), _version(response)

    def put(self, doc_id: str, document: dict[str, Any], version: Version | None) -> Version:
        """Create (``version`` None) or replace exactly the version read; refresh for readers."""
        with _translated(f"write {doc_id}"):
            if version is None:
                response = self.client.index(
                    index=self.index, id=doc_id, document=document, op_type="create", refresh=False
                )
            else:
                response = self.client.index(
                    index=self.index,
                    id=doc_id,
                    document=document,
                    if_seq_no=version.seq_no,
                    if_primary_term=version.primary_term,
                    refresh=False,
                )
        return _version(response)

    def delete(self, doc_id: str, version: Version) -> None:
        with _translated(f"delete {doc_id}"):
            self.client.delete(
                index=self.index,
                id=doc_id,
                if_seq_no=version.seq_no,
                if_primary_term=version.primary_term,
            )

    # --- episodes ----------------------------------------------------------------------------
    def get_episode(self, episode_id: str) -> tuple[Episode, Version] | None:
        found = self.get(episode_id)
        if found is None or found[0].get("kind") != "episode":
            return None
        return Episode.from_document(found[0]), found[1]

    def put_episode(self, episode: Episode, version: Version | None) -> Version:
        return self.put(episode.id, episode.to_document(), version)

    def list_episodes(
        self,
        *,
        rule: str | None = None,
        state: str | None = None,
        since: datetime | None = None,
        pending_only: bool = False,
        size: int = 100,
    ) -> list[Episode]:
        """Newest first. For the dashboard and ``moodwatch alerts list``."""
        clauses: list[dict[str, Any]] = [{"term": {"kind": "episode"}}]
        if rule:
            clauses.append({"term": {"rule": rule}})
        if state:
            clauses.append({"term": {"state": state}})
        if since:
            clauses.append({"range": {"last_breach": {"gte": since.isoformat()}}})
        if pending_only:
            clauses.append({"term": {"has_pending": True}})
        with _translated(f"search {self.index}"):
            if not self.client.indices.exists(index=self.index):
                return []
            response = self.client.search(
                index=self.index,
                query={"bool": {"filter": clauses}},
                sort=[{"fired_at": "desc"}],
                size=size,
            )
        return [Episode.from_document(hit["_source"]) for hit in response["hits"]["hits"]]

    # --- tracks ------------------------------------------------------------------------------
    @staticmethod
    def track_id(rule: str, group: str) -> str:
        return f"track:{rule}:{group}"

    def get_tracks(self, rule: str, groups: list[str]) -> dict[str, tuple[Track, Version]]:
        """The stored tracks of ``groups`` (missing ones are left out), in one ``mget``."""
        if not groups:
            return {}
        ids = [self.track_id(rule, g) for g in groups]
        with _translated(f"read tracks of {rule}"):
            response = self.client.mget(index=self.index, ids=ids)
        found: dict[str, tuple[Track, Version]] = {}
        for group, doc in zip(groups, response["docs"], strict=True):
            if doc.get("found"):
                found[group] = (_track_from(doc["_source"]["track"]), _version(doc))
        return found

    def known_groups(self, rule: str) -> list[str]:
        """Groups with a stored track for ``rule`` (so a firing group that went silent resolves)."""
        with _translated(f"search tracks of {rule}"):
            if not self.client.indices.exists(index=self.index):
                return []
            response = self.client.search(
                index=self.index,
                query={"bool": {"filter": [{"term": {"kind": "track"}}, {"term": {"rule": rule}}]}},
                size=1000,
                source_includes=["group"],
            )
        return [str(hit["_source"]["group"]) for hit in response["hits"]["hits"]]

    def put_track(self, rule: str, group: str, track: Track, version: Version | None) -> Version:
        document = {"kind": "track", "rule": rule, "group": group, "track": _track_to(track)}
        return self.put(self.track_id(rule, group), document, version)

    # --- silences ----------------------------------------------------------------------------
    def silence(self, silence: Silence, now: datetime) -> None:
        """Silence ``rule`` (one group, or ``*`` for all) until a time; replaces an earlier one."""
        document = {
            "kind": "silence",
            "rule": silence.rule,
            "group": silence.group,
            "until": silence.until.isoformat(),
            "created_at": now.isoformat(),
            "comment": silence.comment,
        }
        with _translated("write silence"):
            self.client.index(
                index=self.index,
                id=f"silence:{silence.rule}:{silence.group}",
                document=document,
                refresh="wait_for",
            )

    def silences(self, now: datetime) -> list[Silence]:
        """Silences still in force at ``now``."""
        with _translated("read silences"):
            if not self.client.indices.exists(index=self.index):
                return []
            response = self.client.search(
                index=self.index,
                query={
                    "bool": {
                        "filter": [
                            {"term": {"kind": "silence"}},
                            {"range": {"until": {"gt": now.isoformat()}}},
                        ]
                    }
                },
                size=1000,
            )
        return [
            Silence(
                rule=str(h["_source"]["rule"]),
                group=str(h["_source"]["group"]),
                until=datetime.fromisoformat(h["_source"]["until"]),
                comment=str(h["_source"].get("comment") or ""),
            )
            for h in response["hits"]["hits"]
        ]


def _track_to(track: Track) -> dict[str, Any]:
    return {
        "breach_streak": track.breach_streak,
        "clear_streak": track.clear_streak,
        "firing": track.firing,
        "episodes": track.episodes,
        "last_notified": track.last_notified.isoformat() if track.last_notified else None,
        "breach_since": track.breach_since.isoformat() if track.breach_since else None,
    }


def _track_from(data: dict[str, Any]) -> Track:
    def moment(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return Track(
        breach_streak=int(data["breach_streak"]),
        clear_streak=int(data["clear_streak"]),
        firing=bool(data["firing"]),
        episodes=int(data["episodes"]),
        last_notified=moment(data.get("last_notified")),
        breach_since=moment(data.get("breach_since")),
    )
