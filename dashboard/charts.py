"""Altair charts of the overview, built from the query results (no Streamlit here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import altair as alt
import pandas as pd  # type: ignore[import-untyped]

from dashboard.queries.episodes import Episode
from dashboard.queries.overview import TimelinePoint
from dashboard.queries.thresholds import Threshold
from stream.contract import CHANNELS

# One colour per channel whatever the filter: news stays orange when chat is filtered out.
CHANNEL_COLORS = alt.Scale(domain=sorted(CHANNELS), scheme="tableau10")


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


EPISODE_COLOR = "#d62728"
# An episode is drawn at least this share of the range wide: a ten-minute episode in a 30-day
# view would otherwise be thinner than a pixel.
MIN_EPISODE_SHARE = 0.006


def time_format(domain: tuple[datetime, datetime]) -> str:
    """Axis labels a reader needs: the hour within a day, the date beyond."""
    span = domain[1] - domain[0]
    if span <= timedelta(hours=36):
        return "%H:%M"
    return "%d %b" if span > timedelta(days=3) else "%d %b %H:%M"


def time_scale(domain: tuple[datetime, datetime]) -> alt.Scale:
    return alt.Scale(domain=[d.isoformat() for d in domain])


def time_axis(domain: tuple[datetime, datetime]) -> alt.X:
    """The shared x axis: exactly the view's range (UTC), so both charts line up."""
    # Beyond a few days one tick a day, or each date would be written twice.
    axis = alt.Axis(format=time_format(domain), labelOverlap=True)
    if domain[1] - domain[0] > timedelta(days=3):
        axis = alt.Axis(format=time_format(domain), labelOverlap=True, tickCount="day")
    return alt.X("time:T", title="UTC", scale=time_scale(domain), axis=axis)


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
    episode_layers = episode_marks(episodes, domain)
    if thresholds:
        rules = pd.DataFrame(
            [
                {
                    "share": t.share,
                    "rule": f"alert rule {t.rule} ({percent(t.share)})",
                    "label": f"{t.rule}{' · ' + t.channel if t.channel else ''}: "
                    f"alert above {percent(t.share)}",
                    "at": domain[0].isoformat(),
                }
                for t in thresholds
            ]
        )
        layers.append(
            alt.Chart(rules)
            .mark_rule(strokeDash=[6, 4], color=EPISODE_COLOR)
            .encode(y="share:Q", tooltip=["rule:N"])
        )
        layers.append(
            alt.Chart(rules)
            .mark_text(align="left", baseline="bottom", dx=4, dy=-2, color=EPISODE_COLOR)
            .encode(x=alt.X("at:T", scale=time_scale(domain)), y="share:Q", text="label:N")
        )
    return alt.LayerChart(layer=[*episode_layers, *layers, line], height=height)


def episode_marks(
    episodes: Sequence[Episode], domain: tuple[datetime, datetime]
) -> list[alt.Chart]:
    """Each alert episode as a red band from firing to resolved (or now), never thinner than
    :data:`MIN_EPISODE_SHARE` of the range, with a line and its name where it fired."""
    least = (domain[1] - domain[0]) * MIN_EPISODE_SHARE
    bands = []
    for episode in episodes:
        if episode.started_at is None:
            continue
        start = max(episode.started_at, domain[0])
        end = min(max(episode.resolved_at or domain[1], start + least), domain[1])
        name = f"{episode.rule}{' · ' + episode.group if episode.group else ''}"
        bands.append(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "alert": name,
                "state": episode.state,
                "label": f"alert {episode.state}: {name}",
            }
        )
    if not bands:
        return []
    frame = pd.DataFrame(bands)
    x = alt.X("start:T", scale=time_scale(domain))
    tooltip = ["alert:N", "state:N", alt.Tooltip("start:T", format="%d %b %H:%M")]
    return [
        alt.Chart(frame)
        .mark_rect(opacity=0.18, color=EPISODE_COLOR)
        .encode(x=x, x2="end:T", tooltip=tooltip),
        alt.Chart(frame).mark_rule(color=EPISODE_COLOR).encode(x=x, tooltip=tooltip),
        alt.Chart(frame)
        .mark_text(align="right", baseline="top", dx=-4, y=4, color=EPISODE_COLOR)
        .encode(x=x, text="label:N"),
    ]


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
