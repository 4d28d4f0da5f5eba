"""The dashboard's pure parts: the view in the URL, the label queue's order and undo, the CSV
export's safety, and reading alert episodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.errors import DashboardError
from dashboard.filters import CUSTOM, View, view_from_params
from dashboard.labelling import label_now
from dashboard.queries.episodes import episode_from_source
from dashboard.queries.messages import MessageRow, to_csv
from dashboard.queries.overview import interval_for
from dashboard.queue import QueueState, order
from models.taxonomy import Taxonomy, load_taxonomy
from stream.labels import Label

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def row(message_id: str) -> MessageRow:
    return MessageRow(message_id, NOW, "chat", "web", "refunds", "negative", 0.4, "v1", "en", "t")


def test_no_params_is_the_last_24_hours_of_everything() -> None:
    view = view_from_params({}, now=NOW)
    assert (view.start, view.end) == (NOW - timedelta(hours=24), NOW)
    assert view.to_params() == {}
    assert not view.problems


def test_a_link_reproduces_a_fixed_window_and_its_filters() -> None:
    params = {
        "from": "2026-12-01T08:00:00Z",
        "to": "2026-12-01T09:30:00Z",
        "channel": "chat",
        "topic": "refunds",
        "q": "late AND refund",
    }
    view = view_from_params(params, now=NOW)
    assert view.preset == CUSTOM
    assert view.start == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert view.end == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert view_from_params(view.to_params(), now=NOW) == view
    assert view.to_params() == params


def test_a_relative_range_moves_with_the_clock() -> None:
    view = view_from_params({"from": "now-7d", "source": "app"}, now=NOW)
    assert view.preset == "7d" and view.span == timedelta(days=7) and view.end == NOW
    assert view.to_params() == {"from": "now-7d", "source": "app"}


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        {"from": "now-3w"},
    ],
)
def test_bad_ranges_fall_back_and_say_so(params: dict[str, str]) -> None:
    view = view_from_params(params, now=NOW)
    assert view.span == timedelta(hours=24)
    assert view.problems


def test_previous_period_has_the_same_length_just_before() -> None:
    view = view_from_params({"from": "now-6h"}, now=NOW)
    before = view.previous()
    assert before.end == view.start and before.span == view.span


def test_timeline_buckets_stay_readable() -> None:
    for span in (timedelta(minutes=15), timedelta(hours=24), timedelta(days=30)):
        _, width = interval_for(span)
        assert span / width <= 60


def test_queue_offers_undone_message_first_and_skips_handled_ones() -> None:
    state = QueueState()
    a, b, c = row("a"), row("b"), row("c")
    label = Label("a", "dana", NOW, sentiment="negative")
    state.record(label, a)
    state.skip(b)
    assert [r.id for r in order(state, [], [a, b, c], set())] == ["c"]
    assert state.undo() == label
    assert [r.id for r in order(state, [], [c], {"a"})] == ["a", "c"]
    assert state.undo() is None


def test_queue_puts_messages_behind_alerts_first_without_duplicates() -> None:
    ordered = order(QueueState(), [row("x"), row("y")], [row("y"), row("z")], {"z"})
    assert [r.id for r in ordered] == ["x", "y"]


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def test_the_dashboard_sends_the_streams_own_label(taxonomy: Taxonomy) -> None:
    label = label_now(
        "m1", " dana ", "chat", taxonomy, sentiment="neutral", topic="refunds", now=NOW
    )
    assert isinstance(label, Label)
    assert label.doc_id == "m1:dana"
    assert label.to_record() == {
        "message_id": "m1",
        "labeler": "dana",
        "labeled_at": "2026-12-03T12:00:00.000+00:00",
        "sentiment": "neutral",
        "topic": "refunds",
    }


@pytest.mark.parametrize(
    ("labeler", "values", "complaint"),
    [
        ("  ", {"sentiment": "negative"}, "'labeler' is required"),
        ("x" * 129, {"sentiment": "negative"}, "'labeler' is over 128"),
        ("dana", {}, "needs a 'sentiment', a 'topic' or both"),
        ("dana", {"sentiment": "furious"}, "sentiment 'furious' is not one of"),
        ("dana", {"topic": "markets"}, "topic 'markets' is not a chat topic"),
    ],
)
def test_a_label_the_labels_agent_would_refuse_is_never_sent(
    taxonomy: Taxonomy, labeler: str, values: dict[str, str], complaint: str
) -> None:
    with pytest.raises(DashboardError, match=complaint):
        label_now("m1", labeler, "chat", taxonomy, now=NOW, **values)


def test_csv_export_cannot_carry_a_spreadsheet_formula() -> None:
    evil = MessageRow("m1", NOW, "chat", "web", None, "negative", 0.9, "v1", "en", "=HYPERLINK(1)")
    text = to_csv([evil])
    assert text.splitlines()[0].startswith("time,channel,source,topic,sentiment")
    assert "'=HYPERLINK(1)" in text


def test_an_episode_opens_the_explorer_on_its_window_and_group() -> None:
    episode = episode_from_source(
        "e1",
        {
            "rule": "chat-negative-spike",
            "group_by": "topic",
            "group": "refunds",
            "state": "firing",
            "started_at": "2026-12-03T10:00:00Z",
            "window": {"start": "2026-12-03T09:55:00Z", "end": "2026-12-03T10:05:00Z"},
            "filter": {"channel": "chat"},
        },
    )
    assert episode.firing
    assert episode.explorer_params() == {
        "episode": "e1",
        "from": "2026-12-03T09:55:00Z",
        "to": "2026-12-03T10:05:00Z",
        "topic": "refunds",
        "channel": "chat",
    }
    reopened = view_from_params(episode.explorer_params(), now=NOW)
    assert isinstance(reopened, View) and reopened.topic == "refunds"


def test_an_episode_about_chat_is_not_shown_in_a_news_view() -> None:
    from dashboard.queries.episodes import concerns

    episode = episode_from_source(
        "e2", {"rule": "r", "group_by": "topic", "group": "refunds", "filter": {"channel": "chat"}}
    )
    assert concerns(episode, view_from_params({}, now=NOW))
    assert concerns(episode, view_from_params({"channel": "chat", "topic": "refunds"}, now=NOW))
    assert not concerns(episode, view_from_params({"channel": "news"}, now=NOW))
    assert not concerns(episode, view_from_params({"topic": "delivery"}, now=NOW))


def test_the_alerters_link_decides_where_the_explorer_opens() -> None:
    episode = episode_from_source(
        "chat-spike:refunds:3",
        {
            "kind": "episode",
            "id": "chat-spike:refunds:3",
            "rule": "chat-spike",
            "group": "refunds",
            "state": "resolved",
            "fired_at": "2026-12-03T10:00:00+00:00",
            "resolved_at": "2026-12-03T10:30:00+00:00",
            "window_from": "2026-12-03T09:55:00+00:00",
            "window_to": "2026-12-03T10:00:00+00:00",
            "link": "http://dash:8501/explorer?from=2026-12-03T09%3A55%3A00Z"
            "&to=2026-12-03T10%3A00%3A00Z&channel=chat&topic=refunds&episode=chat-spike%3Arefunds%3A3",
        },
    )
    assert not episode.firing
    assert episode.started_at == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    assert episode.explorer_params() == {
        "from": "2026-12-03T09:55:00Z",
        "to": "2026-12-03T10:00:00Z",
        "channel": "chat",
        "topic": "refunds",
        "episode": "chat-spike:refunds:3",
    }


def test_a_short_episode_stays_visible_and_thresholds_say_which_rule() -> None:
    from dashboard.charts import MIN_EPISODE_SHARE, negative_share_chart
    from dashboard.queries.thresholds import Threshold

    domain = (NOW - timedelta(days=30), NOW)
    episode = episode_from_source(
        "e1",
        {
            "rule": "chat-spike",
            "group": "refunds",
            "state": "resolved",
            "fired_at": "2026-12-01T10:00:00Z",
            "resolved_at": "2026-12-01T10:05:00Z",
        },
    )
    spec = negative_share_chart([], [Threshold("chat-spike", 0.5, "chat")], [episode], domain)
    rows = [row for data in spec.to_dict()["datasets"].values() for row in data]
    band = next(r for r in rows if "end" in r)
    width = datetime.fromisoformat(band["end"]) - datetime.fromisoformat(band["start"])
    assert width >= (domain[1] - domain[0]) * MIN_EPISODE_SHARE > timedelta(minutes=5)
    assert band["label"] == "alert resolved: chat-spike · refunds"
    assert any(r.get("label") == "chat-spike · chat: alert above 50%" for r in rows)
