"""Bulk-loading labelled text that never went through the stream (``moodwatch labels import``).

Each row carries its text, so there is no message to join: the label is stored directly in the
labels index under a synthetic message id, ``import-<sha1 of channel and text>``. The id is a
function of the content, so importing the same file twice replaces instead of doubling, and the
same text labelled by two labelers is one message with two labels.

Rows (JSONL objects, or CSV with a header)::

    text, channel ("news" | "chat"; or --channel), sentiment?, topic?, labeler? (or --labeler),
    labeled_at? (default: now), note?, id? (your own message id instead of the synthetic one)
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import Elasticsearch
from elasticsearch.helpers import BulkIndexError, streaming_bulk

from models.errors import DatasetError
from models.taxonomy import Taxonomy
from stream.errors import IndexingError
from stream.label_index import create_index, labels_index, labels_index_body
from stream.labels import Label, MessageRef, check_topic, iso, label_document, label_from_object
from stream.records import CHANNELS, Rejection


def synthetic_id(channel: str, text: str) -> str:
    digest = hashlib.sha1(f"{channel}\n{text}".encode(), usedforsecurity=False).hexdigest()
    return f"import-{digest[:24]}"


@dataclass
class ImportResult:
    stored: int = 0
    superseded: int = 0
    rejected: list[str] = field(default_factory=list)  # "file:line: reason: detail"


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) from a JSONL or CSV file; bad JSON raises :class:`DatasetError`."""
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                for number, row in enumerate(csv.DictReader(handle), start=2):
                    yield number, {k: (v if v != "" else None) for k, v in row.items() if k}
            return
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except ValueError as exc:
                    raise DatasetError(f"{path}:{number}: not JSON ({exc})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def row_label(
    row: Any, taxonomy: Taxonomy, labeler: str, channel: str | None, now: datetime
) -> tuple[Label, MessageRef] | Rejection | str:
    """The label and the message it stands for, a Rejection, or a plain problem text."""
    if not isinstance(row, dict):
        return "expected an object"
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        return "'text' must be a non-empty string"
    row_channel = row.get("channel") or channel
    if row_channel not in CHANNELS:
        return f"channel {row_channel!r} is not one of {CHANNELS} (give one, or --channel)"
    message_id = row.get("id") or row.get("message_id") or synthetic_id(row_channel, text)
    record = {
        "message_id": str(message_id),
        "labeler": row.get("labeler") or labeler,
        "labeled_at": row.get("labeled_at") or iso(now),
        "sentiment": row.get("sentiment"),
        "topic": row.get("topic"),
        "note": row.get("note"),
    }
    label = label_from_object(record)
    if isinstance(label, Rejection):
        return label
    wrong = check_topic(label, row_channel, taxonomy)
    if wrong is not None:
        return wrong
    return label, MessageRef(label.message_id, text, row_channel, row.get("source"))


def import_labels(
    client: Elasticsearch,
    prefix: str,
    taxonomy: Taxonomy,
    path: Path,
    labeler: str = "import",
    channel: str | None = None,
) -> ImportResult:
    """Validate every row and store the good ones; bad rows are listed, never half-stored."""
    create_index(client, labels_index(prefix), labels_index_body())
    now = datetime.now(UTC)
    result = ImportResult()
    actions: list[dict[str, Any]] = []
    for number, row in read_rows(path):
        outcome = row_label(row, taxonomy, labeler, channel, now)
        if isinstance(outcome, Rejection):
            result.rejected.append(f"{path}:{number}: {outcome.reason.value}: {outcome.detail}")
        elif isinstance(outcome, str):
            result.rejected.append(f"{path}:{number}: {outcome}")
        else:
            label, message = outcome
            actions.append(
                {
                    "_index": labels_index(prefix),
                    "_id": label.doc_id,
                    "version": label.version,
                    "version_type": "external_gte",
                    "_source": label_document(label, message, "import", now),
                }
            )
    try:
        for ok, item in streaming_bulk(
            client, actions, chunk_size=500, raise_on_error=False, refresh="wait_for"
        ):
            status = next(iter(item.values())).get("status", 0)
            if ok:
                result.stored += 1
            elif status == 409:
                result.superseded += 1
            else:
                result.rejected.append(f"{path}: index refused a row: {item}")
    except TransportConnectionError as exc:
        raise IndexingError(f"cannot reach Elasticsearch: {exc}") from exc
    except BulkIndexError as exc:  # only raised with raise_on_error=True; kept for safety
        raise IndexingError(f"Elasticsearch refused the import: {exc}") from exc
    return result
