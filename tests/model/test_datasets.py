"""`moodwatch model train --data` reads the common public formats into labelled examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from models.datasets import (
    parse_label_map,
    read_csv_rows,
    read_jsonl_rows,
    read_text_label_files,
)
from models.errors import DatasetError
from models.examples import Example
from moodwatch.commands.model import model


def test_csv_with_a_label_map_and_a_split_filter(tmp_path: Path) -> None:
    data = tmp_path / "headlines.csv"
    data.write_text(
        "sentence,stance,split\n"
        '"Brightwater cut to Sell, shares slide",bearish,train\n'
        "Brightwater to report on Monday,neutral,train\n"
        "Brightwater soars on record orders,bullish,test\n",
        encoding="utf-8",
    )
    mapping = parse_label_map("bearish=negative,bullish=positive,neutral=neutral")
    rows = read_csv_rows(data, "sentence", "stance", mapping, "news", {"split": "train"})
    assert rows == [
        Example("Brightwater cut to Sell, shares slide", "news", "negative"),
        Example("Brightwater to report on Monday", "news", "neutral"),
    ]


def test_csv_label_outside_the_map_names_the_line(tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\nLovely film,1\nAwful film,7\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"reviews.csv:3: label '7' is not in the label map"):
        read_csv_rows(data, label_map=parse_label_map("0=negative,1=positive"))


def test_text_and_label_files_pair_line_by_line(tmp_path: Path) -> None:
    texts, labels = tmp_path / "texts.txt", tmp_path / "labels.txt"
    texts.write_text("Great service\nThe app crashed again\n", encoding="utf-8")
    labels.write_text("pos\nneg\n", encoding="utf-8")
    rows = read_text_label_files(texts, labels, parse_label_map("pos=positive,neg=negative"))
    assert [(r.text, r.sentiment) for r in rows] == [
        ("Great service", "positive"),
        ("The app crashed again", "negative"),
    ]
    labels.write_text("pos\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="must pair up line by line"):
        read_text_label_files(texts, labels)


def test_jsonl_filtered_by_split_gets_the_default_channel(tmp_path: Path) -> None:
    data = tmp_path / "tweets.jsonl"
    data.write_text(
        '{"text": "so happy today", "sentiment": "positive", "split": "test"}\n'
        '{"text": "meh", "sentiment": "neutral", "split": "val"}\n',
        encoding="utf-8",
    )
    assert read_jsonl_rows(data, channel="chat", where={"split": "test"}) == [
        Example("so happy today", "chat", "positive")
    ]


def test_a_label_map_must_target_our_sentiments() -> None:
    with pytest.raises(DatasetError, match="LABEL=SENTIMENT"):
        parse_label_map("good=great")


def test_train_takes_a_random_seed_not_a_seed_option() -> None:
    result = CliRunner().invoke(model, ["train", "--help"])
    assert result.exit_code == 0
    assert "--random-seed" in result.output
    assert "--seed " not in result.output
    assert "--time-budget" in result.output
    mismatched = CliRunner().invoke(model, ["train", "--seed", "3"])
    assert mismatched.exit_code != 0


def test_a_repeated_where_keeps_rows_matching_any_value(tmp_path: Path) -> None:
    data = tmp_path / "tweets.jsonl"
    data.write_text(
        '{"text": "so happy today", "sentiment": "positive", "split": "test"}\n'
        '{"text": "meh", "sentiment": "neutral", "split": "val"}\n'
        '{"text": "awful queue", "sentiment": "negative", "split": "train"}\n',
        encoding="utf-8",
    )
    rows = read_jsonl_rows(data, channel="chat", where={"split": {"train", "test"}})
    assert [r.text for r in rows] == ["so happy today", "awful queue"]


class _Stop(Exception):
    """Raised by the stand-in trainer once it has seen what train would train on."""


def test_train_gives_each_data_file_its_own_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bootstrap recipe: finance headlines (split=train) as news, tweets (split=test) as
    chat, in one command."""
    import models.versions

    headlines, tweets = tmp_path / "headlines.jsonl", tmp_path / "tweets.jsonl"
    headlines.write_text(
        '{"text": "Acme beats estimates", "sentiment": "positive", "split": "train"}\n'
        '{"text": "Acme misses", "sentiment": "negative", "split": "valid"}\n',
        encoding="utf-8",
    )
    tweets.write_text(
        '{"text": "love this cafe", "sentiment": "positive", "split": "test"}\n'
        '{"text": "ok I guess", "sentiment": "neutral", "split": "val"}\n',
        encoding="utf-8",
    )
    seen: list[Example] = []

    def build_version(registry: object, taxonomy: object, new: list[Example], **_: object) -> None:
        seen.extend(new)
        raise _Stop

    monkeypatch.setattr(models.versions, "build_version", build_version)
    monkeypatch.setenv("MOODWATCH_REGISTRY_PATH", str(tmp_path / "registry"))
    args = ["train", "--no-seed", "--data", str(headlines), "--data", str(tweets)]
    args += ["--where", "split=train", "--where", "split=test"]
    result = CliRunner().invoke(model, [*args, "--channel", "news", "--channel", "chat"])
    assert isinstance(result.exception, _Stop), result.output
    assert seen == [
        Example("Acme beats estimates", "news", "positive"),
        Example("love this cafe", "chat", "positive"),
    ]

    channels = ["--channel", "news", "--channel", "chat", "--channel", "news"]
    three = CliRunner().invoke(model, [*args, *channels])
    assert three.exit_code == 2
    assert "3 --channel values for 2 data files" in three.output
