"""Reading labelled data in the common public formats for ``moodwatch model train --data``.

- JSONL: ``{"text", "sentiment"?, "topic"?, "channel"?}`` per line (our own format).
- CSV / TSV with a header: a text column and a label column; a label map turns the corpus's
  labels into ours (``bearish=negative,bullish=positive,0=neutral``).
- A pair of plain-text files: one text per line, and one label per line in the same order.

Every reader can keep only rows whose column equals a value (``where={"split": "train"}``,
or one of several: ``{"split": {"train", "test"}}``), and gives rows without a channel the
``channel`` passed in. Errors name the file and line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from models.errors import DatasetError
from models.examples import SENTIMENTS, Example, parse_example


def parse_label_map(spec: str | None) -> dict[str, str]:
    """``"bearish=negative,bullish=positive"`` → a dict; every target must be a sentiment."""
    if not spec:
        return {}
    mapping: dict[str, str] = {}
    for part in spec.split(","):
        raw, sep, target = part.partition("=")
        if not sep or not raw.strip() or target.strip() not in SENTIMENTS:
            raise DatasetError(
                f"label map entry {part!r} must look like LABEL=SENTIMENT with SENTIMENT one of "
                f"{', '.join(SENTIMENTS)}"
            )
        mapping[raw.strip()] = target.strip()
    return mapping


def _sentiment(raw: Any, label_map: Mapping[str, str], where: str) -> str:
    label = str(raw).strip()
    if label_map:
        if label not in label_map:
            raise DatasetError(
                f"{where}: label {label!r} is not in the label map ({', '.join(label_map)})"
            )
        return label_map[label]
    if label not in SENTIMENTS:
        raise DatasetError(
            f"{where}: label {label!r} is not one of {SENTIMENTS}; pass a label map "
            "(--label-map 'pos=positive,neg=negative')"
        )
    return label


# Column -> the value (or any of the values) a kept row has there.
Where = Mapping[str, str | Collection[str]]


def _keep(row: Mapping[str, Any], where: Where) -> bool:
    return all(
        str(row.get(column, "")) in ({wanted} if isinstance(wanted, str) else wanted)
        for column, wanted in where.items()
    )


def read_jsonl_rows(
    path: Path,
    label_map: Mapping[str, str] | None = None,
    channel: str | None = None,
    where: Where | None = None,
) -> list[Example]:
    """Our JSONL format, optionally filtered, with labels mapped when a map is given."""
    examples = []
    for number, line in _lines(path):
        where_at = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where_at}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not _keep(row, where or {}):
            continue
        if label_map and row.get("sentiment") is not None:
            row["sentiment"] = _sentiment(row["sentiment"], label_map, where_at)
        row.setdefault("channel", channel)
        examples.append(parse_example(row, where_at))
    return examples


def read_csv_rows(
    path: Path,
    text_column: str = "text",
    label_column: str = "label",
    label_map: Mapping[str, str] | None = None,
    channel: str | None = None,
    where: Where | None = None,
) -> list[Example]:
    """A CSV (or ``.tsv``) with a header row; the label column holds sentiments or mapped labels."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            columns = reader.fieldnames or []
            for needed in (text_column, label_column, *(where or {})):
                if needed not in columns:
                    raise DatasetError(
                        f"{path}: no column {needed!r} (columns: {', '.join(columns)}); "
                        "choose with --text-column / --label-column"
                    )
            examples = []
            for number, row in enumerate(reader, start=2):
                if not _keep(row, where or {}):
                    continue
                at = f"{path}:{number}"
                text = (row.get(text_column) or "").strip()
                if not text:
                    raise DatasetError(f"{at}: empty text")
                examples.append(
                    Example(text, channel, _sentiment(row[label_column], label_map or {}, at))
                )
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    return examples


def read_text_label_files(
    texts: Path,
    labels: Path,
    label_map: Mapping[str, str] | None = None,
    channel: str | None = None,
) -> list[Example]:
    """One text per line in ``texts`` and its label on the same line of ``labels``."""
    text_lines = [line for _, line in _lines(texts, skip_blank=False)]
    label_lines = [line for _, line in _lines(labels, skip_blank=False)]
    if len(text_lines) != len(label_lines):
        raise DatasetError(
            f"{texts} has {len(text_lines)} lines but {labels} has {len(label_lines)}; "
            "they must pair up line by line"
        )
    examples = []
    for number, (text, label) in enumerate(zip(text_lines, label_lines, strict=True), start=1):
        if not text.strip():
            raise DatasetError(f"{texts}:{number}: empty text")
        sentiment = _sentiment(label, label_map or {}, f"{labels}:{number}")
        examples.append(Example(text.strip(), channel, sentiment))
    return examples


def _lines(path: Path, skip_blank: bool = True) -> Iterable[tuple[int, str]]:
    try:
        # Split on newlines only: str.splitlines() also breaks at U+2028 and friends.
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if skip_blank and not line.strip():
            continue
        yield number, line
