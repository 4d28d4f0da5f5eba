"""Alert episodes from ``<prefix>-alerts`` (written by ``alerts/``), read tolerantly.

The alerts component owns the index and its document shape; this reader only needs a few
fields and accepts the spellings an episode document may use, so the page keeps working while
that shape settles. A missing index reads as "no alerts yet".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from elasticsearch import Elasticsearch

from alerts.errors import AlertError
from alerts.store import AlertStore, Silence
from dashboard.errors import DashboardError
from dashboard.filters import View, iso_z, parse_instant
from dashboard.queries.search import translated

PAGE_MAX = 200


def alerts_index(prefix: str) -> str:
    return f"{prefix}-alerts"


def _first(source: dict[str, Any], *names: str) -> Any:
    for name in names:
        value: Any = source
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value not in (None, "", [], {}):
            return value
    return None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Episode:
    """One alert episode: a rule breaching for one group from ``started_at`` (until resolved)."""

    id: str
    rule: str
    group: str | None
    group_by: str | None
    state: str  # "firing" | "resolved" | whatever the alerts component wrote
    started_at: datetime | None
    resolved_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    numbers: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        return self.state.lower() in ("firing", "active", "open")

    def explorer_params(self) -> dict[str, str]:
        """URL query params opening the explorer on this episode's window and group: those of
        the dashboard link the alerter recorded, else built from the window and group."""
        link = self.raw.get("link")
        if isinstance(link, str) and "?" in link:
            linked = {
                k: v
                for k, v in parse_qsl(urlsplit(link).query)
                if k in ("from", "to", "channel", "topic", "source", "q", "episode")
            }
            return {**linked, "episode": self.id}
        start = self.window_start or self.started_at
        end = self.window_end or self.resolved_at
        params: dict[str, str] = {"episode": self.id}
        if start is not None:
            params["from"] = iso_z(start)
            if end is not None and end > start:
                params["to"] = iso_z(end)
        if self.group and self.group_by in ("channel", "topic", "source"):
            params[self.group_by] = self.group
        channel = _first(self.raw, "filter.channel", "channel")
        if isinstance(channel, str) and "channel" not in params:
            params["channel"] = channel
        return params


def concerns(episode: Episode, view: View) -> bool:
    """Whether an episode is about what the view shows (no contradicting channel/topic/source)."""
    scope = episode.explorer_params()
    return all(
        getattr(view, name) in (None, scope.get(name, getattr(view, name)))
        for name in ("channel", "topic", "source")
    )


def episode_from_source(doc_id: str, source: dict[str, Any]) -> Episode:
    notifications = _first(source, "notifications") or []
    group_by = _first(source, "group_by", "rule_group_by")
    group = _first(source, "group", "group_key", "group_value")
    if isinstance(group, dict):  # {"field": ..., "value": ...}
        group_by = group_by or group.get("by") or group.get("field")
        group = group.get("value") or group.get("key")
    if isinstance(group_by, str) and "." in group_by:
        group_by = group_by.split(".")[0]  # "topic.label" -> "topic"
    started = _instant(_first(source, "fired_at", "started_at", "first_breach", "first_breach_at"))
    resolved = _instant(_first(source, "resolved_at", "ended_at"))
    return Episode(
        id=str(_first(source, "id", "episode_id") or doc_id),
        rule=str(_first(source, "rule", "rule_name", "rule.name") or "?"),
        group=None if group in (None, "", "none", "_all") else str(group),
        group_by=group_by if isinstance(group_by, str) else None,
        state=str(_first(source, "state", "status") or "unknown"),
        started_at=started,
        resolved_at=resolved,
        window_start=_instant(
            _first(source, "window.start", "window_start", "evidence.window.start")
        ),
        window_end=_instant(_first(source, "window.end", "window_end", "evidence.window.end")),
        numbers=dict(_first(source, "last_numbers", "numbers", "values") or {}),
        evidence=dict(_first(source, "evidence") or {}),
        notifications=[n for n in notifications if isinstance(n, dict)],
        raw=source,
    )


def _sort_field() -> list[dict[str, Any]]:
    return [
        {"fired_at": {"order": "desc", "unmapped_type": "date"}},
        {"started_at": {"order": "desc", "unmapped_type": "date"}},
    ]


# The alerts index also holds the alerter's own state (tracks, silences, its lease).
_EPISODES_ONLY: dict[str, Any] = {
    "bool": {
        "should": [
            {"term": {"kind": "episode"}},
            {"bool": {"must_not": {"exists": {"field": "kind"}}}},
        ],
        "minimum_should_match": 1,
    }
}


def list_episodes(
    client: Elasticsearch, prefix: str, view: View | None = None, *, size: int = 50
) -> list[Episode]:
    """Episodes overlapping the view and about its channel/topic/source, firing ones first,
    then the most recent (bounded)."""
    filters: list[dict[str, Any]] = [_EPISODES_ONLY]
    if view is not None:
        # Overlapping the view: started before its end, and not resolved before its start.
        filters.append(
            {
                "bool": {
                    "should": [
                        {"range": {"started_at": {"lt": iso_z(view.end)}}},
                        {"range": {"fired_at": {"lt": iso_z(view.end)}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
        filters.append(
            {
                "bool": {
                    "should": [
                        {"bool": {"must_not": {"exists": {"field": "resolved_at"}}}},
                        {"range": {"resolved_at": {"gte": iso_z(view.start)}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    with translated("alert episodes"):
        body = client.search(
            index=alerts_index(prefix),
            size=max(1, min(size, PAGE_MAX)),
            query={"bool": {"filter": filters}},
            sort=_sort_field(),
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    episodes = [episode_from_source(h["_id"], h["_source"]) for h in body["hits"]["hits"]]
    if view is not None:
        episodes = [e for e in episodes if concerns(e, view)]
    episodes.sort(key=lambda e: not e.firing)  # stable: firing first, each newest first
    return episodes


def get_episode(client: Elasticsearch, prefix: str, episode_id: str) -> Episode | None:
    with translated("an alert episode"):
        body = client.search(
            index=alerts_index(prefix),
            size=1,
            query={
                "bool": {
                    "should": [
                        {"ids": {"values": [episode_id]}},
                        {"term": {"id": episode_id}},
                    ]
                }
            },
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    hits = body["hits"]["hits"]
    return episode_from_source(hits[0]["_id"], hits[0]["_source"]) if hits else None


def silence(client: Elasticsearch, prefix: str, rule: str, group: str, until: datetime) -> None:
    """Silence ``rule`` for ``group`` until ``until``, through the alerts component's store
    (the alerter skips notices for it; the episode itself keeps being tracked)."""
    try:
        AlertStore(client, prefix).silence(
            Silence(rule=rule, group=group, until=until, comment="from the dashboard"),
            datetime.now(UTC),
        )
    except AlertError as exc:
        raise DashboardError(f"could not silence {rule} / {group}: {exc}") from exc
