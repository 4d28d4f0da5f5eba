"""Feeding without a broker: reading each format, pacing, loops, and the replay id rule."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from moodwatch.cli import cli
from stream import feeder
from stream.dead_letters import DeadLetter, decode_original, replays_from_export, with_replay_id
from stream.errors import StreamError
from stream.feeder import (
    FeedResult,
    Format,
    ReadStats,
    Row,
    RowOptions,
    TokenBucket,
    encode_row,
    format_for,
    passes,
    read_file,
    read_rows,
    rows_in_thread,
    stream_lines,
)
from stream.records import Position, Reason, dead_letter

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NEWS = RowOptions(channel="news")


def rows_of(path: Path, fmt: Format | None = None, options: RowOptions = NEWS,
            stats: ReadStats | None = None) -> list[Row]:
    return list(read_file(path, fmt, options, stats or ReadStats()))


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- lines ---------------------------------------------------------------------------------------

def test_lines_become_messages_with_channel_and_a_stamp(tmp_path: Path) -> None:
    path = write(tmp_path, "texts.txt", "Shares rally\r\n\n   \nRain all week  \n")
    rows = rows_of(path)
    assert [row["text"] for row in rows] == ["Shares rally", "Rain all week  "]
    assert all(row["channel"] == "news" for row in rows)
    assert all(datetime.fromisoformat(row["created_at"]).tzinfo is not None for row in rows)


def test_no_stamp_leaves_created_at_to_the_worker(tmp_path: Path) -> None:
    path = write(tmp_path, "texts.txt", "one\ntwo\n")
    rows = rows_of(path, options=RowOptions("chat", stamp=False))
    assert rows == [{"text": "one", "channel": "chat"}, {"text": "two", "channel": "chat"}]


# --- JSONL ---------------------------------------------------------------------------------------

def test_jsonl_objects_pass_through_with_their_extra_fields(tmp_path: Path) -> None:
    lines = [
        {"id": "a1", "text": "Late again", "channel": "chat", "agent": "r2",
         "created_at": "2026-01-01T00:00:00Z"},
        {"text": "Markets calm", "metadata": {"desk": "eu"}},
    ]
    path = write(tmp_path, "in.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    first, second = rows_of(path)
    assert first == lines[0]  # its own channel and created_at win
    assert second["channel"] == "news"
    assert second["metadata"] == {"desk": "eu"}
    assert "created_at" in second


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\n{"text": "broken"\n', "in.jsonl:2: not JSON"),
        ('{"text": "ok"}\n\n["a", "list"]\n', "in.jsonl:3: expected a JSON object, got list"),
        ('{"body": "wrong field"}\n',
         "in.jsonl:1: the object needs a string 'text' field (it has ['body'])"),
        ('{"text": 42}\n', "in.jsonl:1: the object needs a string 'text' field"),
    ],
)
def test_bad_jsonl_lines_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, "in.jsonl", content)
    with pytest.raises(StreamError) as caught:
        rows_of(path)
    assert str(caught.value).startswith(f"{path.parent}/{message}")


def test_blank_texts_are_skipped_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "in.jsonl", '{"text": "a"}\n{"text": "  "}\n{"text": ""}\n')
    stats = ReadStats()
    assert [row["text"] for row in rows_of(path, stats=stats)] == ["a"]
    assert stats.skipped_blank == 2
    assert stats.first_skipped == f"{path}:2"


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "in.txt", b"fine\nbad \xff byte\n")
    with pytest.raises(StreamError, match=r"in\.txt:2: not valid UTF-8"):
        rows_of(path)


# --- CSV -----------------------------------------------------------------------------------------

def test_csv_maps_contract_columns_and_keeps_the_rest_as_metadata(tmp_path: Path) -> None:
    content = (
        "\ufeffid,text,author,queue,created_at\n"
        'c-1,"Refund, please\nnow",ann,billing,2026-02-01T10:00:00+00:00\n'
        "c-2,Thanks!,,support,\n"
        "\n"
    )
    rows = rows_of(write(tmp_path, "chats.csv", content), options=RowOptions("chat"))
    assert rows[0] == {
        "text": "Refund, please\nnow", "id": "c-1", "author": "ann",
        "created_at": "2026-02-01T10:00:00+00:00", "metadata": {"queue": "billing"},
        "channel": "chat",
    }
    assert rows[1]["id"] == "c-2"
    assert "author" not in rows[1]
    assert rows[1]["metadata"] == {"queue": "support"}
    assert rows[1]["created_at"]  # stamped: the cell was empty


def test_csv_text_column_can_be_chosen(tmp_path: Path) -> None:
    path = write(tmp_path, "news.csv", "headline,outlet\nBanks merge,Daily\n")
    rows = rows_of(path, options=RowOptions("news", text_column="headline", stamp=False))
    assert rows == [{"text": "Banks merge", "metadata": {"outlet": "Daily"}, "channel": "news"}]


def test_csv_without_the_text_column_lists_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "news.csv", "headline,outlet\nBanks merge,Daily\n")
    with pytest.raises(StreamError) as caught:
        rows_of(path)
    assert str(caught.value) == (
        f"{path}:1: no column 'text'; the columns are headline, outlet; "
        "choose one with --text-column"
    )


def test_csv_row_with_too_many_fields_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "text,source\nok,a\n\"multi\nline\",b\nbad,b,extra\n")
    with pytest.raises(StreamError, match=r"x\.csv:5: 3 fields but the header has 2"):
        rows_of(path)


def test_empty_csv_has_no_rows(tmp_path: Path) -> None:
    assert rows_of(write(tmp_path, "empty.csv", "")) == []


# --- format choice -------------------------------------------------------------------------------

def test_extensions_choose_the_format() -> None:
    assert format_for(Path("a.JSONL")) == "jsonl"
    assert format_for(Path("a.ndjson")) == "jsonl"
    assert format_for(Path("a.csv")) == "csv"
    assert format_for(Path("a.txt")) == "lines"
    assert format_for(Path("a.log")) is None


def test_stdin_is_jsonl_when_its_first_line_is_an_object() -> None:
    stdin = io.BytesIO(b'\n{"text": "from a pipe", "id": "p1"}\n{"text": "second"}\n')
    rows = list(read_rows(stdin, "<stdin>", None, NEWS, ReadStats()))
    assert [row["text"] for row in rows] == ["from a pipe", "second"]
    assert rows[0]["id"] == "p1"


def test_stdin_is_lines_otherwise_even_when_a_later_line_is_json() -> None:
    stdin = io.BytesIO(b'plain words\n{"text": "looks like json"}\n')
    rows = list(read_rows(stdin, "<stdin>", None, NEWS, ReadStats()))
    assert [row["text"] for row in rows] == ["plain words", '{"text": "looks like json"}']


def test_unknown_extension_is_decided_by_content(tmp_path: Path) -> None:
    path = write(tmp_path, "dump.log", '{"text": "an object"}\n')
    assert rows_of(path)[0]["text"] == "an object"


def test_an_explicit_format_wins_over_content(tmp_path: Path) -> None:
    path = write(tmp_path, "dump.log", '{"text": "an object"}\n')
    assert rows_of(path, "lines")[0]["text"] == '{"text": "an object"}'


def test_stream_lines_reassembles_lines_across_reads() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as out:
        out.write(b"short\na line longer than one read\r\n\nno newline at the end")
    with os.fdopen(read_end, "rb") as pipe:
        lines = list(stream_lines(pipe, chunk=4))
    assert lines == [
        b"short\n", b"a line longer than one read\r\n", b"\n", b"no newline at the end",
    ]


# --- loops, keys ---------------------------------------------------------------------------------

def test_each_loop_pass_gets_new_ids() -> None:
    def source() -> Iterator[Row]:
        yield {"id": "m1", "text": "a"}
        yield {"text": "no id"}

    rows = list(zip(range(6), passes(source, loop=True), strict=False))
    ids = [row.get("id") for _, row in rows]
    assert ids == ["m1", None, "m1-loop1", None, "m1-loop2", None]


def test_an_empty_source_does_not_loop_forever() -> None:
    assert list(passes(lambda: iter([]), loop=True)) == []


def test_without_loop_there_is_one_pass() -> None:
    assert len(list(passes(lambda: iter([{"text": "a"}]), loop=False))) == 1


def test_the_key_is_the_id_and_text_stays_unescaped() -> None:
    value, key = encode_row({"id": "n-7", "text": "Zürich"})
    assert key == b"n-7"
    assert json.loads(value) == {"id": "n-7", "text": "Zürich"}
    assert "Zürich".encode() in value
    assert encode_row({"text": "x"})[1] is None


async def test_rows_from_a_thread_arrive_in_order_and_errors_cross_over() -> None:
    def source() -> Iterator[Row]:
        yield from ({"text": str(i)} for i in range(2500))
        raise StreamError("<stdin>:2501: not JSON")

    seen: list[str] = []

    async def drain() -> None:
        async for row in rows_in_thread(source(), buffer=100):
            seen.append(row["text"])

    with pytest.raises(StreamError, match="2501"):
        await drain()
    assert seen == [str(i) for i in range(2500)]


# --- pacing --------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_spaces_events() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=50, clock=clock)  # burst: a tenth of a second = 5 events
    assert [bucket.take() for _ in range(5)] == [0.0] * 5
    assert bucket.take() == pytest.approx(1 / 50)
    assert bucket.take() == pytest.approx(2 / 50)  # debt accumulates until time passes
    clock.now += 2 / 50
    assert bucket.take() == pytest.approx(1 / 50)


def test_token_bucket_holds_the_long_run_rate_despite_late_wakeups() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=200, clock=clock)
    start = clock.now
    for i in range(2000):
        delay = bucket.take()
        clock.now += delay + (0.003 if i % 7 == 0 else 0.0)  # a sleep that sometimes overshoots
    elapsed = clock.now - start
    # Never faster than the rate beyond the one initial burst of 20 ...
    assert elapsed >= (2000 - bucket.capacity) / 200 - 1e-9
    # ... and the overshoots are made up for, so the run is not slower than 2000 / 200 s.
    assert elapsed <= 2000 / 200 + 1e-9


def test_token_bucket_refills_only_up_to_its_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    clock.now += 3600  # an hour idle does not buy an hour of burst
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.1)]


def test_token_bucket_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(rate=0)


# --- replay ids ----------------------------------------------------------------------------------

SOURCE = Position("chat", 3, 1207)


def test_replay_adds_the_original_position_as_id() -> None:
    replayed = json.loads(with_replay_id(b'{"text": "card declined"}', SOURCE))
    assert replayed == {"text": "card declined", "id": "chat-3-1207"}


def test_replay_keeps_an_existing_id_byte_for_byte() -> None:
    original = b'{"id": "c-9",  "text": "hi"}'
    assert with_replay_id(original, SOURCE) is original


@pytest.mark.parametrize("original", [b"not json at all", b"[1, 2]", b"\xff\xfe", b""])
def test_replay_sends_anything_but_an_object_unchanged(original: bytes) -> None:
    assert with_replay_id(original, SOURCE) == original


def test_dead_letter_round_trip_through_an_edited_export() -> None:
    original = b'{"text": "Where is my order?", "created_at": "not a date"}'
    record = dead_letter(Reason.BAD_CREATED_AT, "'created_at' is not ISO-8601", original, SOURCE,
                         key=b"k1")
    letter = DeadLetter.parse(record, Position("dead-letter", 0, 5), timestamp_ms=1)
    exported = letter.export()
    assert "original_b64" not in exported["dead_letter"]
    assert exported["message"] == {"text": "Where is my order?", "created_at": "not a date"}

    exported["message"]["created_at"] = "2026-03-01T09:00:00Z"  # the fix, by hand
    (item,) = replays_from_export([json.dumps(exported) + "\n"], "fix.jsonl")
    assert item.topic == "chat"
    assert item.key == b"k1"
    assert item.reason == "bad_created_at"
    assert json.loads(item.value) == {
        "text": "Where is my order?", "created_at": "2026-03-01T09:00:00Z", "id": "chat-3-1207",
    }
    # Straight from the topic, the original bytes go back with the same id added.
    assert json.loads(letter.replay().value)["id"] == "chat-3-1207"


def test_a_string_message_fixed_into_json_gets_the_id_too() -> None:
    line = json.dumps({"dead_letter": {"source": {"topic": "news", "partition": 0, "offset": 4}},
                       "message": '{"text": "now valid"}'})
    (item,) = replays_from_export([line], "fix.jsonl")
    assert json.loads(item.value) == {"text": "now valid", "id": "news-0-4"}


def test_a_damaged_export_line_names_itself() -> None:
    good = json.dumps({"dead_letter": {"source": {"topic": "news", "partition": 0, "offset": 4}},
                       "message": {"text": "x"}})
    with pytest.raises(StreamError, match=r"fix\.jsonl:3: not an export line"):
        list(replays_from_export([good, "\n", '{"message": "no record"}'], "fix.jsonl"))


def test_undecodable_originals_export_as_text() -> None:
    assert decode_original(b"caf\xe9") == "caf\ufffd"
    assert decode_original(b'{"a": 1}') == {"a": 1}


def test_a_foreign_record_in_the_dead_letter_topic_is_reported_not_fatal() -> None:
    with pytest.raises(StreamError, match="dead-letter-0-9 is not a dead-letter record"):
        DeadLetter.parse(b'{"hello": 1}', Position("dead-letter", 0, 9))
    with pytest.raises(StreamError):
        DeadLetter.parse(b"[]", Position("dead-letter", 0, 9))


class FakeRedactor:
    """Stands in for the PII redactor: replaces one known address."""

    def redact(self, text: str) -> tuple[str, tuple[str, ...]]:
        if "ann@example.org" in text:
            return text.replace("ann@example.org", "[email]"), ("email",)
        return text, ()


def test_the_inspect_view_redacts_before_cutting() -> None:
    text = "x" * 55 + " ann@example.org"  # cutting first would leave "ann@" unrecognised
    record = dead_letter(Reason.MODEL_FAILED, "boom", json.dumps({"text": text}).encode(), SOURCE)
    view = DeadLetter.parse(record, Position("dead-letter", 1, 2)).view(FakeRedactor(), width=60)
    assert "ann@" not in view["preview"]
    assert view["redacted"] == ["email"]
    assert view["preview"].endswith("…")
    assert len(view["preview"]) == 60
    assert view["source"] == {"topic": "chat", "partition": 3, "offset": 1207}


# --- the command line, up to the point it would need Kafka ---------------------------------------

def test_feed_reports_a_bad_line_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "in.jsonl", '{"text": "ok"}\n{oops}\n')
    result = CliRunner().invoke(cli, ["feed", str(path), "--channel", "news"])
    assert result.exit_code == 1  # a moodwatch error, not a usage error
    assert f"error: {path}:2: not JSON" in result.output
    assert "Traceback" not in result.output


def test_feed_reports_a_missing_csv_column(tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", "body,id\nhello,1\n")
    result = CliRunner().invoke(cli, ["feed", str(path), "--channel", "chat"])
    assert result.exit_code == 1
    assert "no column 'text'; the columns are body, id" in result.output


def test_feed_refuses_to_loop_over_stdin() -> None:
    result = CliRunner().invoke(cli, ["feed", "-", "--channel", "chat", "--loop"], input="hi\n")
    assert result.exit_code == 2
    assert "--loop" in result.output
    assert "stdin can be read only once" in result.output


def test_feed_of_a_file_without_text_sends_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "blank.txt", "\n  \n")
    result = CliRunner().invoke(cli, ["feed", str(path), "--channel", "news"])
    assert result.exit_code == 0
    assert "nothing to send" in result.output


class SignalledFeed:
    """Stands in for the Kafka side of `feed`: takes the rows the command hands it as the
    publisher would, then presses Ctrl-C itself, once or twice."""

    def __init__(self, presses: int, take: int = 4) -> None:
        self.presses = presses
        self.take = take
        self.rows: list[dict[str, object]] = []

    async def __call__(self, settings: object, rows: Iterable[dict[str, object]], topic: str,
                       rate: float, progress: bool, *, total: int | None,
                       stop: asyncio.Event) -> FeedResult:
        for row in rows:
            self.rows.append(row)
            if len(self.rows) == self.take:
                break
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.wait_for(stop.wait(), timeout=10)
        if self.presses == 1:
            return FeedResult(sent=len(self.rows), seconds=1.0, interrupted=True)
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.wait_for(asyncio.Event().wait(), timeout=10)  # a flush that never ends
        raise AssertionError("the second Ctrl-C should have cancelled the flush")


def test_ctrl_c_ends_the_feed_with_its_summary(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake = SignalledFeed(presses=1)
    monkeypatch.setattr(feeder, "feed", fake)
    path = write(tmp_path, "t.txt", "a\nb\nc\n")
    result = CliRunner().invoke(cli, ["feed", str(path), "--channel", "news", "--loop"])
    assert result.exit_code == 0, result.output
    assert "stopping: waiting for the messages in flight" in result.stderr
    # What the command handed over: the file's lines in order, looped, as news, stamped.
    assert [row["text"] for row in fake.rows] == ["a", "b", "c", "a"]
    assert all(row["channel"] == "news" and row["created_at"] for row in fake.rows)
    assert "sent 4, failed 0 in 1.0 s (4 msg/s), interrupted" in result.stdout


def test_a_second_ctrl_c_abandons_the_flush(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feeder, "feed", SignalledFeed(presses=2))
    path = write(tmp_path, "t.txt", "a\n")
    result = CliRunner().invoke(cli, ["feed", str(path), "--channel", "news"])
    assert result.exit_code == 130, result.output
    assert "abandoned" in result.stderr
