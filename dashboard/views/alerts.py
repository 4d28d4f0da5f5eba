"""Alerts: firing and recent episodes with their numbers, evidence and notifications."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from dashboard import context, sidebar
from dashboard.errors import DashboardError
from dashboard.queries.episodes import Episode


def when(episode: Episode) -> str:
    start = f"{episode.started_at:%d %b %H:%M} UTC" if episode.started_at else "?"
    if episode.resolved_at:
        return f"{start} → {episode.resolved_at:%d %b %H:%M} UTC"
    return f"since {start}"


def numbers(values: dict[str, Any]) -> None:
    shown = [(k, v) for k, v in values.items() if isinstance(v, int | float | str)][:6]
    if not shown:
        return
    cols = st.columns(len(shown))
    for col, (name, value) in zip(cols, shown, strict=True):
        text = f"{value:.0%}" if isinstance(value, float) and 0 <= value <= 1 else str(value)
        col.metric(name.replace("_", " "), text)


def evidence(found: dict[str, Any]) -> None:
    terms = found.get("rising_terms") or found.get("terms")
    if terms:
        names = [t.get("term", t) if isinstance(t, dict) else t for t in terms][:10]
        names = [str(n) for n in names]
        st.markdown("**Rising terms:** " + ", ".join(f"`{n}`" for n in names))
    samples = found.get("samples") or found.get("messages") or found.get("sample_messages")
    if samples:
        st.markdown("**Sample messages**")
        for sample in samples[:5]:
            text = sample.get("text", sample) if isinstance(sample, dict) else sample
            st.markdown(f"> {text}")
    tops = [(name, found.get(name)) for name in ("top_topics", "top_sources", "model_versions")]
    parts = [
        f"**{name.replace('_', ' ').capitalize()}:** "
        + ", ".join(f"{b.get('key')} ({b.get('count')})" for b in values[:5])
        for name, values in tops
        if isinstance(values, list) and values and all(isinstance(b, dict) for b in values)
    ]
    if parts:
        st.markdown(" · ".join(parts))
    rest = {
        k: v
        for k, v in found.items()
        if k
        not in (
            "rising_terms",
            "terms",
            "samples",
            "messages",
            "sample_messages",
            "top_topics",
            "top_sources",
            "model_versions",
        )
    }
    if rest:
        with st.popover("All evidence"):
            st.json(json.loads(json.dumps(rest, default=str)))


def notifications(sent: list[dict[str, Any]]) -> None:
    if not sent:
        st.caption("No notification recorded yet.")
        return
    lines = []
    for entry in sent[-10:]:
        channel = entry.get("notifier") or entry.get("channel") or "?"
        outcome = entry.get("outcome") or entry.get("status") or ("ok" if entry.get("ok") else "?")
        at = entry.get("at") or entry.get("sent_at") or ""
        lines.append(f"- {channel}: **{outcome}** {at} {entry.get('error') or ''}")
    st.markdown("\n".join(lines))


def outcome_line(sent: list[dict[str, Any]]) -> str:
    """The latest outcome per notifier, failures in red: "log sent · webhook FAILED (HTTP 502)"."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in sent:
        latest[str(entry.get("notifier") or entry.get("channel") or "?")] = entry
    if not latest:
        return "**Notified:** nothing recorded yet"
    parts = []
    for notifier, entry in latest.items():
        outcome = str(entry.get("outcome") or entry.get("status") or "?")
        detail = ", ".join(
            str(x)
            for x in (
                entry.get("error"),
                f"{entry['attempts']} attempts" if entry.get("attempts") else None,
            )
            if x
        )
        text = f"{notifier} {outcome}" + (f" ({detail})" if detail else "")
        parts.append(f":red[**{text}**]" if outcome in ("failed", "error") else text)
    return "**Notified:** " + " · ".join(parts)


SILENCE_HOURS = {"1 hour": 1, "4 hours": 4, "until tomorrow (24 h)": 24, "a week": 168}


def silence_form(episode: Episode) -> None:
    """Silence this rule and group: no more notices until then (the episode is still shown)."""
    group = episode.group or "*"
    span = st.selectbox("For", list(SILENCE_HOURS), key=f"silence-span-{episode.id}")
    confirmed = st.checkbox(
        f"Silence {episode.rule} / {group}", key=f"silence-confirm-{episode.id}"
    )
    if st.button("Silence", key=f"silence-{episode.id}", disabled=not confirmed):
        until = datetime.now(UTC) + timedelta(hours=SILENCE_HOURS[span])
        try:
            context.silence(episode.rule, group, until)
        except DashboardError as exc:
            st.error(str(exc))
            st.code(f"moodwatch alerts silence {episode.rule} {group} --until 2h", language="bash")
        else:
            st.success(f"Silenced until {until:%d %b %H:%M} UTC.")


def show(episode: Episode) -> None:
    badge = ":red[**FIRING**]" if episode.firing else ":green[resolved]"
    title = f"{badge} **{episode.rule}**" + (f" · {episode.group}" if episode.group else "")
    with st.container(border=True):
        st.markdown(f"{title} — {when(episode)}")
        numbers(episode.numbers)
        evidence(episode.evidence)
        st.markdown(outcome_line(episode.notifications))
        left, mid, right = st.columns(3)
        left.page_link(
            "views/explorer.py",
            label="Open these messages in the explorer",
            icon=":material/search:",
            query_params=episode.explorer_params(),
        )
        with mid.popover("All notifications"):
            notifications(episode.notifications)
        with right.popover("Silence"):
            silence_form(episode)


view = sidebar.current_view()
st.title("Alerts")
try:
    found = context.list_episodes(view.key(), view)
except DashboardError as exc:
    st.error(str(exc))
    st.stop()
if not found:
    st.info("No alerts yet in this period: nothing has breached an alert rule.")
    st.stop()
firing = [e for e in found if e.firing]
st.markdown(f"**{len(firing)} firing**, {len(found) - len(firing)} resolved in this period.")
for episode in found:
    show(episode)
