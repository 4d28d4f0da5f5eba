"""Labelled examples: reading JSONL files and the bundled seed data."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from models.errors import DatasetError

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Example:
    """One labelled text. Either label may be missing (a person labelled only one)."""

    text: str
    channel: str | None = None
    sentiment: str | None = None
    topic: str | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})


def parse_example(row: Any, where: str) -> Example:
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(f"{where}: 'text' must be a non-empty string")
    sentiment = row.get("sentiment")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise DatasetError(f"{where}: sentiment {sentiment!r} is not one of {SENTIMENTS}")
    for field in ("channel", "topic"):
        if row.get(field) is not None and not isinstance(row[field], str):
            raise DatasetError(f"{where}: {field!r} must be a string")
    return Example(text, row.get("channel"), sentiment, row.get("topic"))


def read_jsonl(path: Path) -> list[Example]:
    """Read ``{"text", "sentiment"?, "topic"?, "channel"?}`` rows; errors name the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    return list(_parse_lines(lines, str(path)))


def _parse_lines(lines: Iterable[str], origin: str) -> Iterator[Example]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{origin}:{number}: not JSON ({exc.msg})") from exc
        yield parse_example(row, f"{origin}:{number}")


def _bundled(split: str) -> list[Example]:
    folder = resources.files("models").joinpath("seed", split)
    examples: list[Example] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jsonl"):
            examples.extend(
                _parse_lines(entry.read_text("utf-8").splitlines(), f"seed/{split}/{entry.name}")
            )
    if not examples:
        raise DatasetError(f"the bundled seed/{split} data is missing; reinstall moodwatch")
    return examples


def seed_training_set() -> list[Example]:
    """The training seed written for moodwatch (both channels)."""
    return _bundled("train")


def seed_golden_set() -> list[Example]:
    """The held-out golden set: never trained on; the promotion gate judges on it."""
    return _bundled("golden")


def summarize(examples: Iterable[Example]) -> dict[str, Any]:
    """Counts a registry version records about the data it was trained on."""
    items = list(examples)
    return {
        "examples": len(items),
        "by_channel": dict(Counter(e.channel or "?" for e in items)),
        "by_sentiment": dict(Counter(e.sentiment for e in items if e.sentiment)),
        "by_topic": dict(Counter(f"{e.channel}/{e.topic}" for e in items if e.topic)),
    }
