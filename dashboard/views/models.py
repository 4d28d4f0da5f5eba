"""Models: versions with their metrics and gate decisions, the current one, per-slice
comparison of two versions, and the retrain history."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import streamlit as st

from dashboard import context, model_actions
from dashboard.errors import DashboardError
from dashboard.queries.decisions import ShadowOutcome
from dashboard.queries.versions import slice_scores


def headline_metric(metrics: dict[str, Any]) -> str:
    for key in ("golden_macro_f1", "macro_f1", "sentiment_macro_f1", "accuracy"):
        value = metrics.get(key)
        if isinstance(value, int | float):
            return f"{key.replace('_', ' ')} {value:.3f}"
    return ""


def gate(training: dict[str, Any]) -> str:
    """The gate's verdict and reason as recorded in the version (``training.gate``)."""
    decision = training.get("gate")
    if not isinstance(decision, dict):
        return "" if training.get("run_id") is None else "no gate decision recorded"
    promoted = decision.get("promote")
    said = verdict(promoted if isinstance(promoted, bool) else None)
    reason = str(decision.get("reason") or "")
    return f"{said}: {reason}" if reason else said


def verdict(promoted: bool | None) -> str:
    return "?" if promoted is None else "promoted" if promoted else "rejected"


def share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def alert_verdict(outcome: ShadowOutcome) -> str:
    if outcome.alerts_could_change is None:
        return "–"
    if not outcome.alerts_could_change:
        return "no"
    moved = ", ".join(
        f"{g.name} {share(g.current_negative_share)} → {share(g.candidate_negative_share)}"
        for g in outcome.changed_groups[:3]
    )
    more = len(outcome.changed_groups) - 3
    return f"yes: {moved}" + (f" (+{more} more)" if more > 0 else "")


def shadow_table(outcomes: list[ShadowOutcome]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "candidate": [o.version for o in outcomes],
            "against": [o.against or "" for o in outcomes],
            "decided": [o.decided_at for o in outcomes],
            "gate": [verdict(o.promoted) for o in outcomes],
            "messages": [o.messages for o in outcomes],
            "sentiment disagreement": [o.sentiment_disagreement for o in outcomes],
            "topic disagreement": [o.topic_disagreement for o in outcomes],
            "alert episodes could change": [
                alert_verdict(o) if o.messages else o.note for o in outcomes
            ],
        }
    )


SHADOW_COLUMNS = {
    "decided": st.column_config.DatetimeColumn("Decided (UTC)", format="DD MMM HH:mm"),
    "messages": st.column_config.NumberColumn(
        "Messages", format="%d", help="Recent indexed messages both versions scored"
    ),
    "sentiment disagreement": st.column_config.NumberColumn(
        "Sentiment disagreement",
        format="percent",
        help="Share of those messages where the candidate's sentiment differs from the "
        "serving version's",
    ),
    "topic disagreement": st.column_config.NumberColumn("Topic disagreement", format="percent"),
    "alert episodes could change": st.column_config.TextColumn(
        "Alert episodes could change",
        width="large",
        help="Yes when a channel or channel/topic group's negative share moves by more than "
        "the tolerance: an alert rule on it could fire (or resolve) differently",
    ),
}


def shadow_section() -> None:
    st.subheader("Shadow disagreement")
    st.caption(
        "Before a candidate is promoted it scores the last hours of real traffic beside the "
        "serving version. A rejected candidate is not shadow-scored."
    )
    try:
        outcomes = context.shadow_outcomes()
    except DashboardError as exc:
        st.error(str(exc))
        return
    if not outcomes:
        st.caption("No candidate evaluated yet: the first retrain run records one.")
        return
    st.dataframe(
        shadow_table(outcomes), hide_index=True, column_config=SHADOW_COLUMNS, key="shadow"
    )
    scored = [o for o in outcomes if o.groups]
    if not scored:
        return
    picked = st.selectbox("Groups of candidate", [o.version for o in scored], key="shadow-version")
    outcome = next(o for o in scored if o.version == picked)
    tolerance = f"{100 * outcome.tolerance:.0f} pts" if outcome.tolerance is not None else "?"
    st.caption(
        f"Negative share per group on the shadow traffic, {outcome.against or 'serving'} vs "
        f"{outcome.version}; a move of more than {tolerance} counts as a change."
    )
    st.dataframe(
        pd.DataFrame(
            {
                "group": [g.name for g in outcome.groups],
                "messages": [g.messages for g in outcome.groups],
                "serving": [g.current_negative_share for g in outcome.groups],
                "candidate": [g.candidate_negative_share for g in outcome.groups],
                "changes": ["yes" if g.changed else "" for g in outcome.groups],
            }
        ),
        hide_index=True,
        column_config={
            "serving": st.column_config.NumberColumn("Negative share, serving", format="percent"),
            "candidate": st.column_config.NumberColumn(
                "Negative share, candidate", format="percent"
            ),
        },
        key="shadow-groups",
    )


st.title("Models")
try:
    registry = context.registry()
except DashboardError as exc:
    st.error(str(exc))
    st.stop()
if not registry.versions:
    st.info(
        "No model version yet. A worker trains the default one on first start "
        "(or run `moodwatch model train`)."
    )
    st.stop()

st.markdown(f"Serving **{registry.current or 'none'}**.")
rows = [
    {
        "version": v.id,
        "current": v.id == registry.current,
        "created": v.created_at,
        "parent": v.parent or "",
        "headline": headline_metric(v.metrics),
        "gate decision": gate(v.training),
        "notes": v.notes,
    }
    for v in reversed(registry.versions)
]
st.dataframe(pd.DataFrame(rows), hide_index=True)

st.subheader("Compare two versions")
st.caption("Every recorded number of both versions, per slice (golden set, channel, topic).")
ids = [v.id for v in reversed(registry.versions)]
if len(ids) == 1:
    st.caption(f"Only {ids[0]} so far: the comparison shows its own numbers.")
left, right = st.columns(2)
first = left.selectbox("Version", ids, index=0)
second = right.selectbox("Against", ids, index=min(1, len(ids) - 1))
by_id = {v.id: v for v in registry.versions}
a, b = slice_scores(by_id[first]), slice_scores(by_id[second])
names = sorted(set(a) | set(b))
if names:
    frame = pd.DataFrame(
        {
            "slice": names,
            first: [a.get(n) for n in names],
            second: [b.get(n) for n in names],
            "difference": [
                None if a.get(n) is None or b.get(n) is None else a[n] - b[n] for n in names
            ],
        }
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={"difference": st.column_config.NumberColumn(format="%+.3f")},
    )
else:
    st.caption("These versions carry no metrics to compare.")

shadow_section()

st.subheader("Promotions")
if registry.promotions:
    st.dataframe(pd.DataFrame(list(reversed(registry.promotions))), hide_index=True)
else:
    st.caption("No promotion recorded.")

st.subheader("Retrain history")
try:
    runs = context.retrain_runs()
except DashboardError as exc:
    st.error(str(exc))
    runs = []
if runs:
    flat = [
        {k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in r.items()}
        for r in runs
    ]
    st.dataframe(pd.DataFrame(flat), hide_index=True)
else:
    st.caption("No retrain run yet.")

st.subheader("Actions")
left, right = st.columns(2)
with left.popover("Roll back", icon=":material/undo:"):
    st.write(f"Every worker goes back from **{registry.current}** to the version served before it.")
    sure = st.checkbox("Yes, roll back", key="rollback-confirm")
    if st.button("Roll back now", key="rollback", type="primary", disabled=not sure):
        try:
            event = model_actions.roll_back(context.settings())
        except DashboardError as exc:
            st.error(str(exc))
        else:
            context.registry.clear()
            st.success(f"Now serving {event['version']} (was {event['previous']}).")
with right.popover("Retrain now", icon=":material/model_training:"):
    st.write(
        "Fine-tunes the serving model on the labels gathered so far (even fewer than "
        f"{context.retrain_threshold()}), in its own low-priority process: minutes of CPU. "
        "The candidate passes the gate before anything is served; the run appears in the "
        "retrain history above. Only one run at a time."
    )
    sure = st.checkbox("Yes, start a retrain", key="retrain-confirm")
    if st.button("Start retrain", key="retrain", type="primary", disabled=not sure):
        try:
            launch = model_actions.start_retrain(context.settings())
        except DashboardError as exc:
            st.error(str(exc))
        else:
            context.retrain_runs.clear()
            st.success(f"Retrain started (process {launch.pid}, log {launch.log}).")
