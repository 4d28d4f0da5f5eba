"""Label queue: the messages the model most needs a human for, one keypress per label.

Keys: 1 negative · 2 neutral · 3 positive (sends the label) · 4…0 pick a topic first
(optional) · S skip · U undo the last label.
"""

from __future__ import annotations

import streamlit as st

from dashboard import access, charts, context, sidebar
from dashboard.errors import DashboardError
from dashboard.labelling import label_now
from dashboard.queries.messages import MessageRow
from dashboard.queue import SENTIMENT_KEYS, SKIP_KEY, TOPIC_KEYS, UNDO_KEY, QueueState, order

SENTIMENT_ICONS = {
    "negative": ":material/sentiment_dissatisfied:",
    "neutral": ":material/sentiment_neutral:",
    "positive": ":material/sentiment_satisfied:",
}


def send(state: QueueState, row: MessageRow, labeler: str, sentiment: str) -> None:
    topic = state.topic_choice.get(row.id)
    try:
        label = label_now(
            row.id, labeler, row.channel, context.taxonomy(), sentiment=sentiment, topic=topic
        )
        context.label_publisher().publish(label)
    except DashboardError as exc:
        state.notice = f":red[{exc}]"
        return
    state.record(label, row)
    state.notice = f"Labelled {sentiment}{' · ' + topic if topic else ''}."


def choose_topic(state: QueueState, row: MessageRow, slug: str) -> None:
    if state.topic_choice.get(row.id) == slug:
        del state.topic_choice[row.id]  # pressing it again clears the choice
    else:
        state.topic_choice[row.id] = slug


def skip(state: QueueState, row: MessageRow) -> None:
    state.skip(row)
    state.notice = "Skipped."


def undo(state: QueueState) -> None:
    label = state.undo()
    state.notice = (
        "Nothing to undo."
        if label is None
        else "Took back the last label: label the message again, the new label replaces it."
    )


def progress(state: QueueState) -> None:
    threshold = context.retrain_threshold()
    try:
        current = context.registry().current
        versions = {v.id: v for v in context.registry().versions}
        version = versions.get(current) if current else None
        # The learning loop counts labels after the cut-off the version was trained up to.
        since_text = (
            str(version.training.get("labels_until") or version.created_at) if version else None
        )
        from dashboard.filters import parse_instant

        since = parse_instant(since_text) if since_text else None
        count = context.labels_since(since)
    except (DashboardError, ValueError) as exc:
        st.caption(f"Label counter unavailable: {exc}")
        return
    model = f"model {current}" if current else "the first model"
    st.progress(
        min(1.0, count / threshold),
        text=f"**{count} of {threshold}** labels since {model} — a retrain starts at "
        f"{threshold} · {len(state.done)} labelled by you in this session",
    )


st.title("Label queue")
st.caption(
    "The messages the model was least sure about (and those behind firing alerts) first. "
    "Keys: **1** negative · **2** neutral · **3** positive · **4–0** topic (optional, before "
    "the sentiment) · **S** skip · **U** undo."
)
state = QueueState.of(st.session_state)
labeler = access.ask_labeler()
if not labeler:
    st.info("Enter your name to start labelling: it is recorded with each label.")
    st.stop()

progress(state)
view = sidebar.current_view()
try:
    labelled = context.labelled_by(labeler)
    exclude = (state.handled() | labelled) - {r.id for r in state.put_back}
    rows = order(
        state,
        context.behind_alerts(view.key(), view),
        context.least_confident(view, exclude),
        labelled,
    )
except DashboardError as exc:
    st.error(str(exc))
    st.stop()

if state.notice:
    st.toast(state.notice)
    state.notice = None
if not rows:
    st.success("Nothing left to label in this view. Widen the time range or clear a filter.")
    st.button("Undo last", on_click=undo, args=(state,), shortcut=UNDO_KEY, disabled=not state.done)
    st.stop()

row = rows[0]
with st.container(border=True):
    st.markdown(f"### {row.text}")
    st.caption(
        f"{row.time:%d %b %H:%M} UTC · {row.channel} · {row.source or 'no source'} · "
        f"model says **{row.sentiment}** ({charts.percent(row.confidence)} sure), "
        f"topic **{row.topic}** · {len(rows) - 1} more waiting"
    )

st.markdown("**Topic** (optional, before the sentiment; press again to clear)")
slugs = [t.slug for t in context.taxonomy().for_channel(row.channel)]
chosen = state.topic_choice.get(row.id)
topic_cols = st.columns(4)
for n, (slug, key) in enumerate(zip(slugs, TOPIC_KEYS, strict=False)):
    topic_cols[n % 4].button(
        slug.replace("_", " "),
        key=f"topic-{slug}",
        on_click=choose_topic,
        args=(state, row, slug),
        shortcut=key,
        type="primary" if chosen == slug else "secondary",
        width="stretch",
    )

st.markdown("**Sentiment** (sends the label)")
sentiment_cols = st.columns(5)
for col, (sentiment, key) in zip(sentiment_cols, SENTIMENT_KEYS.items(), strict=False):
    col.button(
        sentiment.capitalize(),
        key=f"sentiment-{sentiment}",
        icon=SENTIMENT_ICONS[sentiment],
        on_click=send,
        args=(state, row, labeler, sentiment),
        shortcut=key,
        width="stretch",
    )
sentiment_cols[3].button(
    "Skip",
    key="skip",
    on_click=skip,
    args=(state, row),
    shortcut=SKIP_KEY,
    width="stretch",
)
sentiment_cols[4].button(
    "Undo last",
    key="undo",
    on_click=undo,
    args=(state,),
    shortcut=UNDO_KEY,
    disabled=not state.done,
    width="stretch",
)
