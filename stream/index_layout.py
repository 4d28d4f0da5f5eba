"""Where documents live in Elasticsearch: names, templates and mappings.

Messages go to time-based indices named after the message's ``created_at`` (one per month by
default, ``<prefix>-messages-2026.11``), all behind the read alias ``<prefix>-messages``. The
template is explicit and ``dynamic: strict``: a field the code does not know about is a bug to
surface, not a mapping to guess. Only features both the official distribution and the
Maven-built local node have are used (no ILM, data streams, ingest pipelines or scripts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stream.contract import FIELDS

if TYPE_CHECKING:
    from moodwatch.settings import Settings

MAPPING_VERSION = 1

_KEYWORD = {"type": "keyword"}
_DATE = {"type": "date"}
_FLOAT = {"type": "float"}

# The contract's fields (stream.contract), then what the worker adds.
MESSAGE_PROPERTIES: dict[str, Any] = {
    **{field.name: field.mapping for field in FIELDS},
    "ingested_at": _DATE,
    "scored_at": _DATE,
    "indexed_at": _DATE,
    "sentiment": {
        "properties": {
            "label": _KEYWORD,
            "confidence": _FLOAT,
            "probs": {"properties": {"negative": _FLOAT, "neutral": _FLOAT, "positive": _FLOAT}},
        }
    },
    "topic": {
        "properties": {
            "label": _KEYWORD,
            "confidence": _FLOAT,
            # Topic names are configuration: keep the per-topic scores, do not map each one.
            "probs": {"type": "object", "enabled": False},
        }
    },
    "model_version": _KEYWORD,
    "redactions": _KEYWORD,
    "kafka": {
        "properties": {
            "topic": _KEYWORD,
            "partition": {"type": "integer"},
            "offset": {"type": "long"},
        }
    },
}


@dataclass(frozen=True)
class IndexLayout:
    prefix: str
    period: str = "month"  # "day" | "month"
    replicas: int = 0
    shards: int = 1

    @property
    def messages_alias(self) -> str:
        return f"{self.prefix}-messages"

    @property
    def messages_template(self) -> str:
        return f"{self.prefix}-messages"

    def messages_index(self, created_at: datetime) -> str:
        stamp = created_at.strftime("%Y.%m.%d" if self.period == "day" else "%Y.%m")
        return f"{self.prefix}-messages-{stamp}"

    def messages_template_body(self) -> dict[str, Any]:
        return {
            "index_patterns": [f"{self.prefix}-messages-*"],
            "priority": 200,
            "template": {
                "settings": {
                    "number_of_shards": self.shards,
                    "number_of_replicas": self.replicas,
                    "refresh_interval": "1s",
                },
                "mappings": {
                    "dynamic": "strict",
                    "_meta": {"moodwatch_mapping_version": MAPPING_VERSION},
                    "properties": MESSAGE_PROPERTIES,
                },
                "aliases": {self.messages_alias: {}},
            },
            "_meta": {"moodwatch_mapping_version": MAPPING_VERSION},
        }


def layout_for(settings: Settings) -> IndexLayout:
    """The index layout the settings describe (prefix, period, shards, replicas)."""
    return IndexLayout(
        settings.es_index_prefix,
        settings.es_index_period,
        settings.es_replicas,
        settings.es_shards,
    )
