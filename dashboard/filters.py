"""The view every page shares: a time range and channel/topic/source/text filters.

A view lives in the URL query parameters, so a copied link reproduces it:

    from, to    ISO-8601 UTC instants (``2026-12-03T10:00:00Z``), or ``from=now-24h`` for a
                range that moves with the clock (``to`` is then omitted: "until now")
    channel, topic, source, q, episode    exact values (``q`` is a full-text query)

No parameter means the last 24 hours of everything. Parsing never fails: a value that does not
parse falls back to the default and is reported in :attr:`View.problems`, for the page to show.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

# Presets offered in the sidebar, shortest first: label -> span.
PRESETS: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
PRESET_NAMES: dict[str, str] = {
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
}
DEFAULT_PRESET = "24h"
CUSTOM = "custom"
MAX_SPAN = timedelta(days=366)
TEXT_FIELDS = ("channel", "topic", "source", "q", "episode")
_RELATIVE = re.compile(r"^now-(\d+)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def iso_z(moment: datetime) -> str:
    """``2026-12-03T10:00:00Z``: the URL form of an instant (UTC, whole seconds)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant; a naive one is taken as UTC. Raises ValueError when it is not one."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class View:
    """What a page shows: ``[start, end)`` plus exact-value filters (None = everything)."""

    start: datetime
    end: datetime
    preset: str = DEFAULT_PRESET  # a PRESETS key, or CUSTOM for fixed instants
    channel: str | None = None
    topic: str | None = None
    source: str | None = None
    q: str | None = None
    episode: str | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> View:
        """The period of the same length just before this one (for "change vs before")."""
        return replace(self, start=self.start - self.span, end=self.start, preset=CUSTOM)

    def with_preset(self, preset: str, now: datetime | None = None) -> View:
        end = now or datetime.now(UTC)
        return replace(self, start=end - PRESETS[preset], end=end, preset=preset)

    def to_params(self) -> dict[str, str]:
        """The URL query parameters of this view (empty filters left out)."""
        params: dict[str, str] = {}
        if self.preset in PRESETS:
            if self.preset != DEFAULT_PRESET:
                params["from"] = f"now-{self.preset}"
        else:
            params["from"] = iso_z(self.start)
            params["to"] = iso_z(self.end)
        for name in TEXT_FIELDS:
            value = getattr(self, name)
            if value:
                params[name] = value
        return params

    def key(self) -> tuple[str, ...]:
        """A hashable identity for caching: relative ranges are rounded to 5 s, so a cache hit
        is possible between reruns a moment apart."""
        return (
            str(int(self.start.timestamp()) // 5),
            str(int(self.end.timestamp()) // 5),
            *(getattr(self, n) or "" for n in TEXT_FIELDS),
        )


def _relative(text: str) -> str | None:
    match = _RELATIVE.match(text.strip())
    if not match:
        return None
    amount, unit = match.groups()
    preset = f"{int(amount)}{unit}"
    return preset if preset in PRESETS else None


def view_from_params(params: Mapping[str, str], now: datetime | None = None) -> View:
    """The view a URL describes; unknown or malformed values fall back and are reported."""
    now = now or datetime.now(UTC)
    problems: list[str] = []
    texts = {n: (params.get(n) or "").strip() or None for n in TEXT_FIELDS}
    start_text, end_text = params.get("from"), params.get("to")
    preset = DEFAULT_PRESET
    start, end = now - PRESETS[DEFAULT_PRESET], now
    if start_text:
        relative = _relative(start_text)
        if relative is not None:
            preset = relative
            start = now - PRESETS[relative]
        else:
            try:
                start = parse_instant(start_text)
                preset = CUSTOM
                end = parse_instant(end_text) if end_text else now
            except ValueError:
                problems.append(f"ignored from={start_text!r} / to={end_text!r}: not ISO-8601")
                start, end, preset = now - PRESETS[DEFAULT_PRESET], now, DEFAULT_PRESET
    if end <= start:
        problems.append("the range ends before it starts: showing the last 24 hours instead")
        start, end, preset = now - PRESETS[DEFAULT_PRESET], now, DEFAULT_PRESET
    if end - start > MAX_SPAN:
        problems.append("ranges longer than a year are cut to the last year of the range")
        start = end - MAX_SPAN
    return View(start=start, end=end, preset=preset, problems=tuple(problems), **texts)
