"""The alert rule schema: what a YAML rule may say, validated before anything runs.

A rule selects messages (``filter``), splits them into groups (``group_by``), compares the
current ``window`` with a baseline, and breaches on one ``condition``::

    name: chat-negative-spike
    filter: {channel: chat}
    group_by: topic            # none | topic | source | channel
    group_limit: 50            # more groups than this: evaluated top 50, said so in the alert
    window: 5m
    counting: {mode: label, min_confidence: 0.6}   # or {mode: probability}
    condition:
      type: spike              # negative_share | spike | volume | model_drift
      metric: share            # share | volume
      min_ratio: 2.0
      min_z: 3.0
      min_count: 20
    fire_after: 2              # consecutive breaching evaluations before an episode fires
    resolve_after: 3           # consecutive clear evaluations before it resolves
    renotify: 30m              # repeat the firing notice while it lasts (omit: never)

Durations are ``<number><s|m|h|d>``. Only messages whose ``sentiment.label`` is negative,
neutral or positive count (``unsupported`` languages never do).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

GroupBy = Literal["none", "topic", "source", "channel"]
Route = Literal["market", "model"]
NotifierName = Literal["log", "kafka", "webhook", "email"]
ALL_NOTIFIERS: tuple[NotifierName, ...] = ("log", "kafka", "webhook", "email")

#: The document field each ``group_by`` splits on.
GROUP_FIELDS: dict[str, str] = {"topic": "topic.label", "source": "source", "channel": "channel"}


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"5m"``, ``"1.5h"``, ``"7d"`` or a number of seconds → ``timedelta``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration like 30s, 5m, 1h or 7d, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return timedelta(seconds=seconds)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageFilter(_Strict):
    """Which messages a rule looks at (all given parts must match)."""

    channel: str | None = None
    topics: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    query: str | None = Field(None, description="Elasticsearch simple_query_string on the text.")


class Counting(_Strict):
    """How a message counts as negative.

    ``label``: its label is negative with confidence at least ``min_confidence``.
    ``probability``: it adds its P(negative), so 100 messages at 0.45 weigh 45.
    """

    mode: Literal["label", "probability"] = "label"
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)


class NegativeShare(_Strict):
    """Negative share of the current window at least ``above``, over ``min_count`` messages."""

    type: Literal["negative_share"]
    above: float = Field(gt=0.0, le=1.0)
    min_count: int = Field(10, ge=1)


class Spike(_Strict):
    """Current window against its baseline windows.

    ``metric``: ``share`` (negative share) or ``volume`` (negative count). Breaches when the
    ratio current / baseline mean is at least ``min_ratio`` and/or the z-score at least ``min_z``
    (``combine``: ``all`` of the given tests, or ``any``). Floors: the current window needs
    ``min_count`` messages and ``min_negative`` negatives (so 0 → 2 is not a spike); the baseline
    needs ``min_baseline_count`` messages over at least ``min_baseline_windows`` non-empty windows,
    else the group is "not evaluable" rather than breaching.
    """

    type: Literal["spike"]
    metric: Literal["share", "volume"] = "share"
    baseline: Literal["trailing", "same_hour_yesterday", "same_hour_last_week"] = "trailing"
    baseline_windows: int = Field(12, ge=2, le=100)
    min_ratio: float | None = Field(None, gt=1.0)
    min_z: float | None = Field(None, gt=0.0)
    combine: Literal["all", "any"] = "all"
    min_count: int = Field(10, ge=1)
    min_negative: float = Field(5, ge=0)
    min_baseline_count: int = Field(20, ge=1)
    min_baseline_windows: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _needs_a_test(self) -> Spike:
        if self.min_ratio is None and self.min_z is None:
            raise ValueError("give min_ratio, min_z or both")
        if self.min_baseline_windows > self.baseline_windows:
            raise ValueError("min_baseline_windows cannot exceed baseline_windows")
        return self


class Volume(_Strict):
    """Message count of the current window above ``above`` or below ``below`` (a silent feed).

    ``below`` only breaches for a feed that had messages in the hour-or-so before (12 windows),
    unless ``require_history`` is false: a channel never used is not an outage.
    """

    type: Literal["volume"]
    above: int | None = Field(None, ge=0)
    below: int | None = Field(None, ge=1)
    require_history: bool = True

    @model_validator(mode="after")
    def _needs_a_bound(self) -> Volume:
        if self.above is None and self.below is None:
            raise ValueError("give above, below or both")
        return self


class ModelDrift(_Strict):
    """The model's mean confidence or class mix moved away from its trailing baseline.

    ``max_confidence_drop``: mean confidence fell by at least this much (absolute).
    ``max_mix_shift``: total variation distance between class mixes at least this much.
    """

    type: Literal["model_drift"]
    baseline_windows: int = Field(12, ge=1, le=100)
    max_confidence_drop: float | None = Field(None, gt=0.0, le=1.0)
    max_mix_shift: float | None = Field(None, gt=0.0, le=1.0)
    min_count: int = Field(50, ge=1)
    min_baseline_count: int = Field(200, ge=1)

    @model_validator(mode="after")
    def _needs_a_test(self) -> ModelDrift:
        if self.max_confidence_drop is None and self.max_mix_shift is None:
            raise ValueError("give max_confidence_drop, max_mix_shift or both")
        return self


Condition = Annotated[NegativeShare | Spike | Volume | ModelDrift, Field(discriminator="type")]


class AlertRule(_Strict):
    """One validated rule. ``route`` says who cares: the market (users) or the model (ML team)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")
    description: str = ""
    enabled: bool = True
    filter: MessageFilter = Field(default_factory=MessageFilter)
    group_by: GroupBy = "none"
    group_limit: int = Field(50, ge=1, le=1000)
    window: timedelta = timedelta(minutes=5)
    every: timedelta | None = Field(
        None, description="Evaluation interval; default: the alerter's."
    )
    counting: Counting = Field(default_factory=Counting)
    condition: Condition
    fire_after: int = Field(1, ge=1, le=100)
    resolve_after: int = Field(2, ge=1, le=1000)
    renotify: timedelta | None = None
    route: Route | None = None
    notify: list[NotifierName] = Field(default_factory=lambda: list(ALL_NOTIFIERS))
    severity: Literal["info", "warning", "critical"] = "warning"

    @field_validator("window", "every", "renotify", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta | None:
        return None if value is None else parse_duration(value)

    @property
    def effective_route(self) -> Route:
        """``model`` for drift rules unless set otherwise, else ``market``."""
        if self.route is not None:
            return self.route
        return "model" if isinstance(self.condition, ModelDrift) else "market"

    @property
    def group_field(self) -> str | None:
        return GROUP_FIELDS.get(self.group_by)
