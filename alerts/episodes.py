"""An alert episode: one rule, one group, from firing to resolved, with its notices.

``id`` is ``<rule>:<group>:<number>``: the n-th episode of that rule and group. Two evaluators
that both try to start episode n race on one ``create`` and only one wins, so an episode can
never be opened twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

NoticeKind = Literal["firing", "renotify", "resolved"]
Outcome = Literal["pending", "sent", "failed", "silenced"]


def episode_id(rule: str, group: str, number: int) -> str:
    return f"{rule}:{group}:{number}"


class Notification(BaseModel):
    """One notice through one notifier and what became of it."""

    kind: NoticeKind
    notifier: str
    outcome: Outcome = "pending"
    at: datetime
    attempts: int = 0
    error: str | None = None


class Episode(BaseModel):
    id: str
    rule: str
    group: str
    number: int
    state: Literal["firing", "resolved"] = "firing"
    route: str = "market"
    severity: str = "warning"
    description: str = ""
    reason: str = ""
    first_breach: datetime
    last_breach: datetime
    fired_at: datetime
    resolved_at: datetime | None = None
    window_from: datetime
    window_to: datetime
    numbers: dict[str, Any] = Field(default_factory=dict)
    last_numbers: dict[str, Any] = Field(default_factory=dict)
    groups_truncated: dict[str, int] | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    link: str = ""
    notifications: list[Notification] = Field(default_factory=list)

    def pending(self) -> list[Notification]:
        """Notices not delivered yet (new, or failed and due for another try)."""
        return [n for n in self.notifications if n.outcome in ("pending", "failed")]

    def to_document(self) -> dict[str, Any]:
        document = self.model_dump(mode="json")
        document["kind"] = "episode"
        document["has_pending"] = bool(self.pending())
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Episode:
        return cls.model_validate(
            {k: v for k, v in document.items() if k not in ("kind", "has_pending")}
        )
