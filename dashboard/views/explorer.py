"""Explorer: search the messages, read one in full, export the selection as CSV."""

from __future__ import annotations

import pandas as pd  # type: ignore[import-untyped]
import streamlit as st

from dashboard import charts, context, sidebar
from dashboard.errors import DashboardError
from dashboard.filters import parse_instant
from dashboard.queries.messages import MessageRow

PAGE_SIZE = 50
SORTS = {"newest": "Newest first", "least_confident": "Least confident first"}


def table(rows: list[MessageRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": [r.time for r in rows],
            "channel": [r.channel for r in rows],
            "source": [r.source for r in rows],
            "topic": [r.topic for r in rows],
            "sentiment": [r.sentiment for r in rows],
            "confidence": [r.confidence for r in rows],
            "model": [r.model_version for r in rows],
            "lang": [r.lang for r in rows],
            "text": [r.text for r in rows],
        }
    )


COLUMNS = {
    "time": st.column_config.DatetimeColumn("Time (UTC)", format="DD MMM HH:mm:ss"),
    "confidence": st.column_config.NumberColumn("Confidence", format="%.2f"),
    "text": st.column_config.TextColumn("Text", width="large"),
}


def probabilities(head: dict[str, object] | None) -> pd.DataFrame:
    probs = head.get("probs") if isinstance(head, dict) else None
    if not isinstance(probs, dict):
        return pd.DataFrame({"class": [], "probability": []})
    ordered = sorted(probs.items(), key=lambda kv: -float(kv[1]))
    return pd.DataFrame(
        {"class": [k for k, _ in ordered], "probability": [float(v) for _, v in ordered]}
    )


PROB_COLUMNS = {
    "probability": st.column_config.ProgressColumn(
        "Probability", format="percent", min_value=0.0, max_value=1.0
    )
}


def when(created_at: object) -> str:
    try:
        return f"{parse_instant(str(created_at)):%d %b %Y %H:%M:%S} UTC"
    except ValueError:
        return str(created_at)


def detail(message_id: str) -> None:
    try:
        document = context.message_detail(message_id)
    except DashboardError as exc:
        st.error(str(exc))
        return
    if document is None:
        st.warning("This message is no longer in the index.")
        return
    st.subheader("Message")
    st.markdown(f"> {document.get('text', '')}")
    sentiment = document.get("sentiment") or {}
    topic = document.get("topic") or {}
    st.caption(
        " · ".join(
            [
                when(document.get("created_at")),
                str(document.get("channel") or "?"),
                str(document.get("source") or "no source"),
                f"language {document.get('lang') or '?'}",
                f"scored by {document.get('model_version') or '?'}",
                f"id {document.get('id')}",
            ]
        )
    )
    left, right = st.columns(2)
    with left:
        st.markdown(
            f"**Sentiment: {sentiment.get('label')}** "
            f"({charts.percent(sentiment.get('confidence'))} sure)"
        )
        st.dataframe(probabilities(sentiment), hide_index=True, column_config=PROB_COLUMNS)
    with right:
        st.markdown(
            f"**Topic: {topic.get('label')}** ({charts.percent(topic.get('confidence'))} sure)"
        )
        st.dataframe(probabilities(topic), hide_index=True, column_config=PROB_COLUMNS)
    if document.get("redactions"):
        st.caption(f"Redacted before indexing: {', '.join(document['redactions'])}")


view = sidebar.current_view()
st.title("Explorer")
if view.episode:
    try:
        episode = context.get_episode(view.episode)
    except DashboardError:
        episode = None
    if episode is not None:
        st.info(
            f"Showing the messages behind alert **{episode.rule}**"
            f"{' · ' + episode.group if episode.group else ''} ({episode.state})."
        )

top = st.columns([2, 1, 1])
sort = top[1].selectbox("Order", list(SORTS), format_func=SORTS.__getitem__)
page_number = int(top[2].number_input("Page", min_value=1, max_value=200, value=1, step=1))
try:
    page = context.search_messages(view.key(), (page_number - 1) * PAGE_SIZE, PAGE_SIZE, sort, view)
except DashboardError as exc:
    st.error(str(exc))
    st.stop()

total = f"{page.total:,}" if page.total_is_exact else f"more than {page.total:,}"
top[0].markdown(f"**{total} messages** match")
if not page.rows:
    st.info("No messages match. Widen the time range or clear a filter.")
    st.stop()

selection = st.dataframe(
    table(page.rows),
    hide_index=True,
    column_config=COLUMNS,
    on_select="rerun",
    selection_mode="single-row",
    key=f"explorer-table-{page_number}",
)
chosen = selection.selection.rows if selection is not None else []
if chosen:
    detail(page.rows[chosen[0]].id)
else:
    st.caption("Select a row to see both heads' probabilities.")

limit = context.settings().dashboard_export_max_rows
with st.expander("Export"):
    st.write(f"The current selection as CSV, newest first, at most {limit:,} rows.")
    if st.button("Prepare CSV", key="export-prepare"):
        try:
            st.session_state["export_csv"] = context.export_csv(view.key(), limit, view)
            st.session_state["export_view"] = view.to_params()
        except DashboardError as exc:
            st.error(str(exc))
    # A CSV prepared for another selection is not offered for this one.
    if st.session_state.get("export_view") == view.to_params() and "export_csv" in st.session_state:
        st.download_button(
            "Download CSV",
            st.session_state["export_csv"],
            file_name=f"moodwatch-{view.start:%Y%m%d%H%M}-{view.end:%Y%m%d%H%M}.csv",
            mime="text/csv",
            type="primary",
        )
