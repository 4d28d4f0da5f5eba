"""The label queue's state in one browser session: what was labelled (for undo), skipped, or
put back; and the order messages are offered in.

Order: messages behind firing alerts first (the model's mistakes there matter most), then the
least confident scored messages of the view. Nothing here talks to a service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dashboard.queries.messages import MessageRow
from stream.labels import Label

SENTIMENT_KEYS = {"negative": "1", "neutral": "2", "positive": "3"}
TOPIC_KEYS = ("4", "5", "6", "7", "8", "9", "0")
SKIP_KEY = "S"
UNDO_KEY = "U"


@dataclass
class QueueState:
    done: list[tuple[Label, MessageRow]] = field(default_factory=list)  # undo pops the last
    skipped: set[str] = field(default_factory=set)
    put_back: list[MessageRow] = field(default_factory=list)  # offered again first (undo)
    topic_choice: dict[str, str] = field(default_factory=dict)  # message id -> chosen slug
    notice: str | None = None

    @classmethod
    def of(cls, session: Any) -> QueueState:
        """The state kept in ``session`` (``st.session_state``), created on first use."""
        state = session.get("label_queue")
        if not isinstance(state, QueueState):
            state = cls()
            session["label_queue"] = state
        return state

    def handled(self) -> set[str]:
        return {label.message_id for label, _ in self.done} | self.skipped

    def record(self, label: Label, row: MessageRow) -> None:
        self.done.append((label, row))
        self.put_back = [r for r in self.put_back if r.id != row.id]
        self.topic_choice.pop(row.id, None)

    def skip(self, row: MessageRow) -> None:
        self.skipped.add(row.id)
        self.put_back = [r for r in self.put_back if r.id != row.id]

    def undo(self) -> Label | None:
        """Take back the last label: its message is offered again first; its next label (or
        a skip) stands, since a newer label by the same labeler replaces the older one."""
        if not self.done:
            return None
        label, row = self.done.pop()
        self.put_back.insert(0, row)
        return label


def order(
    state: QueueState,
    behind_alerts: Iterable[MessageRow],
    least_confident: Iterable[MessageRow],
    already_labelled: set[str],
) -> list[MessageRow]:
    """Messages to offer, best first, without duplicates or anything already handled."""
    handled = state.handled() | already_labelled
    ordered: list[MessageRow] = list(state.put_back)
    seen = {row.id for row in ordered}
    for row in [*behind_alerts, *least_confident]:
        if row.id in seen or row.id in handled:
            continue
        seen.add(row.id)
        ordered.append(row)
    return ordered
