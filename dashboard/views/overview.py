"""Overview: how people feel, about what, since when, at a glance (refreshes live)."""

from __future__ import annotations

from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import streamlit as st

from dashboard import charts, context, sidebar
from dashboard.errors import DashboardError
from dashboard.filters import PRESET_NAMES, View
from dashboard.queries.overview import GroupShare, Headline


def period_name(view: View) -> str:
    if view.preset in PRESET_NAMES:
        return PRESET_NAMES[view.preset].lower()
    return f"{view.start:%d %b %H:%M} – {view.end:%d %b %H:%M} UTC"


def points_change(now: float | None, before: float | None) -> str | None:
    if now is None or before is None:
        return None
    return f"{100 * (now - before):+.1f} pts"


def summary(head: Headline, worst: GroupShare | None, firing: int) -> str:
    now, before = head.current, head.previous
    if now.total == 0:
        return "No messages in this period."
    parts = [f"**{charts.percent(now.negative_share)}** of messages are negative"]
    if before.negative_share is not None and now.negative_share is not None:
        delta = 100 * (now.negative_share - before.negative_share)
        trend = "up" if delta > 0.5 else "down" if delta < -0.5 else "about the same as"
        parts.append(
            f"{trend} {abs(delta):.0f} points vs the period before"
            if trend != "about the same as"
            else "about the same as the period before"
        )
    text = ", ".join(parts) + "."
    if worst is not None and worst.share is not None:
        name = worst.name.replace("_", " ")
        text += f" Most negative topic: **{name}** ({charts.percent(worst.share)})."
    if firing:
        text += f" :red[**{firing} alert{'s' if firing > 1 else ''} firing.**]"
    return text


def change_text(change: float | None) -> str:
    return "–" if change is None else f"{100 * change:+.1f} pts"


def group_table(groups: list[GroupShare]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": [g.name.replace("_", " ") for g in groups],
            "negative share": [g.share for g in groups],
            "change": [change_text(g.change) for g in groups],
            "messages": [g.messages for g in groups],
        }
    )


def group_columns(kind: str) -> dict[str, Any]:
    return {
        "name": st.column_config.TextColumn(kind),
        "negative share": st.column_config.ProgressColumn(
            "Negative share", format="percent", min_value=0.0, max_value=1.0
        ),
        "change": st.column_config.TextColumn(
            "Change",
            help="Percentage points against the period of the same length just before "
            "(– : no messages then)",
        ),
        "messages": st.column_config.NumberColumn("Messages", format="%d", width="small"),
    }


@st.fragment(run_every=context.settings().dashboard_refresh_s)
def panels() -> None:
    view = sidebar.current_view()
    key = view.key()
    try:
        data = context.overview_data(key, view)
        episodes = context.list_episodes(key, view)
    except DashboardError as exc:
        st.error(str(exc))
        return
    head, points, topics, sources = data.headline, data.timeline, data.topics, data.sources
    firing = [e for e in episodes if e.firing]
    now, before = head.current, head.previous
    st.markdown(summary(head, topics[0] if topics else None, len(firing)))

    cols = st.columns(4)
    cols[0].metric(
        "Negative share",
        charts.percent(now.negative_share, 1),
        points_change(now.negative_share, before.negative_share),
        delta_color="inverse",
        help="Negative among messages with a sentiment (unsupported languages excluded).",
        border=True,
    )
    cols[1].metric(
        "Messages",
        f"{now.total:,}",
        f"{now.total - before.total:+,}" if before.total else None,
        delta_color="off",
        border=True,
    )
    cols[2].metric(
        "Alerts firing",
        str(len(firing)),
        help="Open the Alerts page for the evidence.",
        border=True,
    )
    cols[3].metric(
        "Unsupported language",
        charts.percent(now.unsupported_share, 1),
        points_change(now.unsupported_share, before.unsupported_share),
        delta_color="off",
        help="Messages in a language the model does not score (no sentiment).",
        border=True,
    )
    if now.total == 0:
        st.info("No messages in this period and filter. Try a longer time range.")
        return

    st.subheader("Negative share over time")
    thresholds = [t for t in context.thresholds() if view.channel in (None, t.channel)]
    st.altair_chart(
        charts.negative_share_chart(points, thresholds, episodes, (view.start, view.end)),
        width="stretch",
    )
    legend = [
        *(["Dashed red line: an alert rule's threshold."] if thresholds else []),
        *(["Red band: an alert episode, from firing to resolved."] if episodes else []),
        "Times in UTC.",
    ]
    if legend:
        st.caption(" ".join(legend))
    st.subheader("Messages over time")
    st.altair_chart(charts.volume_chart(points, (view.start, view.end)), width="stretch")

    left, right = st.columns(2)
    with left:
        st.subheader("Most negative topics")
        if topics:
            st.dataframe(group_table(topics), hide_index=True, column_config=group_columns("Topic"))
        else:
            st.caption("No topic has enough messages yet.")
    with right:
        st.subheader("Most negative sources")
        if sources:
            st.dataframe(
                group_table(sources), hide_index=True, column_config=group_columns("Source")
            )
        else:
            st.caption("No source has enough messages yet.")


view = sidebar.current_view()
st.title(f"How people feel — {period_name(view)}")
panels()
