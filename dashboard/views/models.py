"""Models: versions with their metrics and gate decisions, the current one, per-slice
comparison of two versions, and the retrain history."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import streamlit as st

from dashboard import context, model_actions
from dashboard.errors import DashboardError
from dashboard.queries.versions import slice_scores


def headline_metric(metrics: dict[str, Any]) -> str:
    for key in ("golden_macro_f1", "macro_f1", "sentiment_macro_f1", "accuracy"):
        value = metrics.get(key)
        if isinstance(value, int | float):
            return f"{key.replace('_', ' ')} {value:.3f}"
    return ""


def gate(training: dict[str, Any]) -> str:
    decision = training.get("gate") or training.get("decision")
    if isinstance(decision, dict):
        verdict = decision.get("decision") or decision.get("passed")
        reason = decision.get("reason") or decision.get("why") or ""
        return f"{verdict} {reason}".strip()
    return str(decision) if decision else ""


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
ids = [v.id for v in reversed(registry.versions)]
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
        "Fine-tuning runs in the scheduler (minutes of CPU), never in the dashboard. "
        "Start a run there; it passes the gate before anything is served:"
    )
    st.code("moodwatch retrain now", language="bash")
