"""The Elasticsearch document for a scored message (see index_layout for its mapping).

The message's own fields are the contract's (:data:`stream.contract.FIELDS`), copied as sent
(timestamps as ISO-8601 UTC); the model's output and bookkeeping fields follow.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stream.contract import FIELDS, Kind
from stream.records import Message

if TYPE_CHECKING:  # only a type here: importing the engine would import torch
    from models.inference import Prediction


UNSUPPORTED = "unsupported"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def contract_fields(message: Message) -> dict[str, Any]:
    """The message's contract fields as the document stores them."""
    document: dict[str, Any] = {}
    for field in FIELDS:
        value = getattr(message, field.name)
        document[field.name] = iso(value) if field.kind is Kind.TIMESTAMP else value
    return document


def scored_document(
    message: Message, prediction: Prediction, ingested_at: datetime, scored_at: datetime
) -> dict[str, Any]:
    return {
        **contract_fields(message),
        "ingested_at": iso(ingested_at),
        "scored_at": iso(scored_at),
        "indexed_at": iso(datetime.now(UTC)),
        "sentiment": {
            "label": prediction.sentiment,
            "confidence": round(prediction.sentiment_confidence, 4),
            "probs": prediction.sentiment_probs,
        },
        "topic": {
            "label": prediction.topic,
            "confidence": round(prediction.topic_confidence, 4),
            "probs": prediction.topic_probs,
        },
        "model_version": prediction.model_version,
        "redactions": list(message.redactions),
        "kafka": {
            "topic": message.position.topic,
            "partition": message.position.partition,
            "offset": message.position.offset,
        },
    }


def unsupported_document(
    message: Message, model_version: str, ingested_at: datetime, scored_at: datetime
) -> dict[str, Any]:
    """A message in a language the serving version does not support: indexed with its ``lang``
    and ``sentiment.label: "unsupported"`` — no topic, no confidence, nothing for alert rules
    (they count negative/neutral/positive only) to mistake for an opinion."""
    return {
        **contract_fields(message),
        "ingested_at": iso(ingested_at),
        "scored_at": iso(scored_at),
        "indexed_at": iso(datetime.now(UTC)),
        "sentiment": {"label": UNSUPPORTED},
        "model_version": model_version,
        "redactions": list(message.redactions),
        "kafka": {
            "topic": message.position.topic,
            "partition": message.position.partition,
            "offset": message.position.offset,
        },
    }


def bulk_lines(index: str, doc_id: str, document: dict[str, Any]) -> bytes:
    """The two NDJSON lines of one bulk ``index`` action (overwrite by ``_id``: replay-safe)."""
    action = json.dumps({"index": {"_index": index, "_id": doc_id}})
    return (action + "\n" + json.dumps(document, ensure_ascii=False) + "\n").encode("utf-8")
