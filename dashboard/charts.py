"""Altair charts of the overview, built from the query results (no Streamlit here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import altair as alt
import pandas as pd  # type: ignore[import-untyped]

from dashboard.queries.episodes import Episode
from dashboard.queries.overview import TimelinePoint
from dashboard.queries.thresholds import Threshold

CHANNEL_COLORS = alt.Scale(scheme="tableau10")


def percent(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def points_frame(points: Sequence[TimelinePoint]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": [p.at for p in points],
            "channel": [p.channel for p in points],
            "messages": [p.total for p in points],
            "negative": [p.negative for p in points],
            "negative share": [p.negative_share for p in points],
        }
    )


def time_axis(domain: tuple[datetime, datetime]) -> alt.X:
    """The shared x axis: exactly the view's range, so both charts line up."""
    return alt.X("time:T", title=None, scale=alt.Scale(domain=[d.isoformat() for d in domain]))


def negative_share_chart(
    points: Sequence[TimelinePoint],
    thresholds: Sequence[Threshold],
    episodes: Sequence[Episode],
    domain: tuple[datetime, datetime],
    height: int = 260,
) -> alt.LayerChart:
    """Negative share per channel over time, rule thresholds as dashed lines, alert episodes
    as red bands."""
    frame = points_frame(points).dropna(subset=["negative share"])
    line = (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(
            x=time_axis(domain),
            y=alt.Y("negative share:Q", title="Negative share", axis=alt.Axis(format="%")),
            color=alt.Color("channel:N", scale=CHANNEL_COLORS, title="Channel"),
            tooltip=[
                alt.Tooltip("time:T", format="%d %b %H:%M"),
                "channel:N",
                alt.Tooltip("negative share:Q", format=".0%"),
                "negative:Q",
                "messages:Q",
            ],
        )
    )
    layers: list[alt.Chart] = []
    bands = [
        {
            "start": e.started_at,
            "end": e.resolved_at or domain[1],
            "alert": f"{e.rule} {e.group or ''}".strip(),
            "state": e.state,
        }
        for e in episodes
        if e.started_at is not None
    ]
    if bands:
        layers.append(
            alt.Chart(pd.DataFrame(bands))
            .mark_rect(opacity=0.15, color="#d62728")
            .encode(
                x=alt.X("start:T", scale=alt.Scale(domain=[d.isoformat() for d in domain])),
                x2="end:T",
                tooltip=["alert:N", "state:N"],
            )
        )
    if thresholds:
        rules = pd.DataFrame(
            [
                {"share": t.share, "rule": f"alert rule {t.rule} ({percent(t.share)})"}
                for t in thresholds
            ]
        )
        layers.append(
            alt.Chart(rules)
            .mark_rule(strokeDash=[6, 4], color="#d62728")
            .encode(y="share:Q", tooltip=["rule:N"])
        )
    return alt.LayerChart(layer=[*layers, line], height=height)


def volume_chart(
    points: Sequence[TimelinePoint], domain: tuple[datetime, datetime], height: int = 200
) -> alt.Chart:
    frame = points_frame(points)
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_area(interpolate="step-after", opacity=0.85)
        .encode(
            x=time_axis(domain),
            y=alt.Y("messages:Q", title="Messages", stack=True),
            color=alt.Color("channel:N", scale=CHANNEL_COLORS, title="Channel"),
            tooltip=[alt.Tooltip("time:T", format="%d %b %H:%M"), "channel:N", "messages:Q"],
        )
        .properties(height=height)
    )
    return chart
