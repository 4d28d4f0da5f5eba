"""The shared filters in the sidebar, read from and written back to the URL query params.

The view survives page changes: query params a page was opened with win; without any, the
view last used in this browser session is restored (and written to the URL again).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard import context
from dashboard.errors import DashboardError
from dashboard.filters import (
    CUSTOM,
    PRESET_NAMES,
    PRESETS,
    TEXT_FIELDS,
    View,
    view_from_params,
)

VIEW_PARAMS = ("from", "to", *TEXT_FIELDS)
ALL = "All"
_SESSION_KEY = "view_params"


def current_view() -> View:
    """The view of this run (URL first, else this session's last one)."""
    params = {k: st.query_params[k] for k in VIEW_PARAMS if k in st.query_params}
    if not params and _SESSION_KEY in st.session_state:
        params = dict(st.session_state[_SESSION_KEY])
    return view_from_params(params)


def publish(view: View, **extra: str) -> None:
    """Make ``view`` this session's view and the URL's query params."""
    params = {**view.to_params(), **extra}
    st.session_state[_SESSION_KEY] = params
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)


def _choice(label: str, current: str | None, options: list[str], key: str) -> str | None:
    values = [ALL, *options]
    if current and current not in options:
        values.append(current)  # a value from a link, not seen in this range
    # The key carries the value, so a value arriving by URL is not overridden by widget state.
    index = values.index(current) if current else 0
    picked = st.selectbox(label, values, index=index, key=f"{key}-{current or ALL}")
    return None if picked == ALL else picked


def render(view: View) -> View:
    """Draw the filters and publish the view; a change reruns the script with the new one."""
    shown = view
    with st.sidebar:
        st.markdown("**Filters**")
        ranges = [*PRESETS, CUSTOM]
        names = {**PRESET_NAMES, CUSTOM: "Custom range"}
        preset = st.selectbox(
            "Time range",
            ranges,
            index=ranges.index(view.preset),
            format_func=names.__getitem__,
            key=f"range-{view.preset}",
        )
        if preset != view.preset and preset != CUSTOM:
            view = view.with_preset(preset)
        elif preset == CUSTOM:
            now = datetime.now(UTC)
            start = st.datetime_input("From (UTC)", value=view.start.replace(tzinfo=None))
            end = st.datetime_input("To (UTC)", value=view.end.replace(tzinfo=None))
            if start and end:
                start_utc, end_utc = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
                if end_utc <= start_utc:
                    st.warning("“To” must be after “From”.")
                else:
                    end_utc = min(end_utc, now + timedelta(minutes=1))
                    view = replace(view, start=start_utc, end=end_utc, preset=CUSTOM)
        try:
            options = context.filter_options(view.key()[:2], view)
        except DashboardError as exc:
            st.caption(f"Filter values unavailable: {exc}")
            options = {"channel": [], "topic": [], "source": []}
        channel = _choice("Channel", view.channel, options["channel"], "f-channel")
        topic = _choice("Topic", view.topic, options["topic"], "f-topic")
        source = _choice("Source", view.source, options["source"], "f-source")
        query = st.text_input(
            "Text search", value=view.q or "", placeholder="e.g. refund AND late"
        ).strip()
        changed = replace(view, channel=channel, topic=topic, source=source, q=query or None)
        if changed.episode and st.button("Clear alert focus", key="f-clear-episode"):
            changed = replace(changed, episode=None)
        for problem in view.problems:
            st.warning(problem)
        st.caption(f"{changed.start:%d %b %H:%M} → {changed.end:%d %b %H:%M} UTC")
    publish(changed)
    if changed.to_params() != shown.to_params():
        # Draw the page once more with widgets keyed on the new values.
        st.rerun()
    return changed
