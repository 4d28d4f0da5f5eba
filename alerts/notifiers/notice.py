"""A notice: one episode at one moment of its life (firing, re-notify, resolved), rendered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from alerts.episodes import Episode, NoticeKind

_ICON = {"firing": ":rotating_light:", "renotify": ":repeat:", "resolved": ":white_check_mark:"}


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    episode: Episode

    @property
    def title(self) -> str:
        state = {"firing": "FIRING", "renotify": "STILL FIRING", "resolved": "RESOLVED"}[self.kind]
        return f"[{state}] {self.episode.rule} / {self.episode.group} ({self.episode.route})"

    def summary_lines(self) -> list[str]:
        ep = self.episode
        lines = [self.title, ep.reason]
        numbers = ep.numbers
        if "metric_current" in numbers:
            lines.append(
                f"current {numbers['metric_current']} vs baseline {numbers['baseline_mean']} "
                f"(ratio {numbers.get('ratio')}, z {numbers.get('z')}, "
                f"{numbers.get('count')} messages)"
            )
        elif numbers:
            lines.append(", ".join(f"{k} {v}" for k, v in numbers.items()))
        lines.append(f"first breach {ep.first_breach.isoformat()}, fired {ep.fired_at.isoformat()}")
        if ep.resolved_at:
            lines.append(f"resolved {ep.resolved_at.isoformat()}")
        if ep.groups_truncated:
            lines.append(
                f"note: {ep.groups_truncated['groups_seen']} groups matched, only the "
                f"{ep.groups_truncated['limit']} largest were evaluated (group_limit)"
            )
        terms = [t["term"] for t in ep.evidence.get("rising_terms", [])[:8]]
        if terms:
            lines.append("rising terms: " + ", ".join(terms))
        for message in ep.evidence.get("messages", [])[:5]:
            lines.append(f"  • {str(message.get('text'))[:200]}")
        if ep.link:
            lines.append(ep.link)
        return lines

    def to_json(self) -> dict[str, Any]:
        """The JSON the Kafka topic carries: the notice kind and the whole episode."""
        return {
            "notice": self.kind,
            "episode": self.episode.model_dump(mode="json", exclude={"notifications"}),
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False).encode("utf-8")

    def slack_payload(self) -> dict[str, Any]:
        """A Slack-compatible incoming-webhook body (``text`` plus ``blocks``)."""
        lines = self.summary_lines()
        icon = _ICON[self.kind]
        body = "\n".join(lines[1:])
        return {
            "text": f"{icon} {lines[0]}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": lines[0][:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}},
            ],
            "moodwatch": {
                "notice": self.kind,
                "episode_id": self.episode.id,
                "route": self.episode.route,
            },
        }


class Notifier(Protocol):
    name: str

    async def send(self, notice: Notice) -> None:
        """Deliver once; raise :class:`alerts.errors.NotifyError` on failure."""

    async def close(self) -> None:
        """Release connections."""
