"""The gate's decisions and their shadow reports, for the models page.

The learning loop records one decision per candidate it evaluated in ``<prefix>-models``
(``retrain/history.py``) and the same decision in the version's ``version.json``
(``training.gate`` and ``training.shadow``). The shadow report (``retrain/shadow.py``) says, on
the last hours of real traffic, how often the candidate disagreed with the serving version and,
per channel and per channel/topic group (what alert rules watch), whether the share of negative
messages moved by more than a tolerance: the sign that an alert episode could have fired
differently. The index is read first; a version only the registry knows still shows.

Shadow scoring runs only for a candidate that passed the gate, so a rejected one has no report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from dashboard.filters import parse_instant
from dashboard.queries.search import translated
from models.registry import ModelVersion


@dataclass(frozen=True)
class ShadowGroup:
    """One group the alert rules watch, e.g. ``channel chat`` or ``topic chat/refunds``."""

    name: str
    messages: int
    current_negative_share: float
    candidate_negative_share: float
    changed: bool


@dataclass(frozen=True)
class ShadowOutcome:
    """What the gate decided about one candidate and what its shadow run found (None where
    there is no report; ``note`` then says why)."""

    version: str
    against: str | None
    decided_at: datetime | None
    promoted: bool | None
    reason: str
    messages: int | None = None
    sentiment_disagreement: float | None = None
    topic_disagreement: float | None = None
    tolerance: float | None = None
    alerts_could_change: bool | None = None
    groups: list[ShadowGroup] = field(default_factory=list)
    note: str = ""

    @property
    def changed_groups(self) -> list[ShadowGroup]:
        return [g for g in self.groups if g.changed]


def gate_decisions(client: Elasticsearch, prefix: str, size: int = 50) -> list[dict[str, Any]]:
    """The newest decisions as stored; empty while the learning loop has recorded none."""
    with translated("the gate decisions"):
        body = client.search(
            index=f"{prefix}-models",
            size=size,
            query={"match_all": {}},
            sort=[{"decided_at": {"order": "desc", "unmapped_type": "date"}}],
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    return [dict(hit["_source"]) for hit in body["hits"]["hits"]]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _groups(report: dict[str, Any]) -> list[ShadowGroup]:
    groups = report.get("groups")
    if not isinstance(groups, dict):
        return []
    found = []
    for name, numbers in groups.items():
        if not isinstance(numbers, dict):
            continue
        found.append(
            ShadowGroup(
                name=str(name),
                messages=int(numbers.get("n") or 0),
                current_negative_share=_number(numbers.get("current_negative_share")) or 0.0,
                candidate_negative_share=_number(numbers.get("candidate_negative_share")) or 0.0,
                changed=bool(numbers.get("changed")),
            )
        )
    # The groups that would change first, then the biggest.
    return sorted(found, key=lambda g: (not g.changed, -g.messages, g.name))


def _moment(value: Any) -> datetime | None:
    try:
        return parse_instant(str(value)) if value else None
    except ValueError:
        return None


def shadow_outcome(decision: dict[str, Any]) -> ShadowOutcome:
    """One decision document (or a version's ``training``) as a :class:`ShadowOutcome`."""
    found = decision.get("gate")
    gate: dict[str, Any] = found if isinstance(found, dict) else {}
    promoted = decision.get("promoted")
    if not isinstance(promoted, bool):
        promoted = gate.get("promote") if isinstance(gate.get("promote"), bool) else None
    parent = decision.get("parent")
    base = ShadowOutcome(
        version=str(decision.get("version") or ""),
        against=str(parent) if parent else None,
        decided_at=_moment(decision.get("decided_at")),
        promoted=promoted,
        reason=str(decision.get("reason") or gate.get("reason") or ""),
    )
    report = decision.get("shadow")
    if not isinstance(report, dict):
        note = (
            "not shadow-scored: the gate rejected it first"
            if gate.get("promote") is False or (promoted is False and not gate)
            else "not shadow-scored (shadow scoring was off)"
        )
        return replace(base, note=note)
    if not report.get("messages"):
        note = str(report.get("note") or "no indexed traffic in the shadow window")
        return replace(base, messages=0, note=note)
    changed = report.get("alert_relevant_change")
    return replace(
        base,
        messages=int(report["messages"]),
        sentiment_disagreement=_number(report.get("sentiment_disagreement")),
        topic_disagreement=_number(report.get("topic_disagreement")),
        tolerance=_number(report.get("negative_share_tolerance")),
        alerts_could_change=changed if isinstance(changed, bool) else None,
        groups=_groups(report),
    )


def shadow_outcomes(
    decisions: Iterable[dict[str, Any]], versions: Iterable[ModelVersion]
) -> list[ShadowOutcome]:
    """Every evaluated candidate, newest first: the stored decisions, then the registry's
    versions whose ``training`` carries a gate decision the index does not have."""
    outcomes = [shadow_outcome(d) for d in decisions if d.get("version")]
    known = {o.version for o in outcomes}
    for version in sorted(versions, key=lambda v: v.created_at, reverse=True):
        training = version.training or {}
        if version.id in known or not isinstance(training.get("gate"), dict):
            continue
        outcomes.append(
            shadow_outcome(
                {
                    "version": version.id,
                    "parent": version.parent,
                    "decided_at": version.created_at,
                    "gate": training["gate"],
                    "shadow": training.get("shadow"),
                }
            )
        )
    return outcomes
