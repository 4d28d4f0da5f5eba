"""The message contract, defined once: every field a producer may send on an input topic.

One JSON object per Kafka message. :data:`FIELDS` is the single definition; everything else
derives from it:

* validation (:mod:`stream.validation`) checks each field by its :class:`Kind` and limits;
* the feeder's CSV reader (:mod:`stream.feeder`) maps columns named like a field, or like one
  of its ``csv_aliases``, onto that field (every other column goes to ``metadata``);
* the scored document (:mod:`stream.documents`) copies these fields, and its mapping
  (:mod:`stream.index_layout`) takes each field's :attr:`ContractField.mapping`;
* README.md's table in "Sending messages" is :func:`markdown_table` (a test compares them;
  ``python -m stream.contract`` prints the table to paste).

Rules every field shares (checked by validation, whatever the field):

* every string anywhere in the record, ``metadata`` keys and values at any depth included,
  must be encodable as UTF-8: a JSON escape of a lone surrogate (``"\\ud800"``) is rejected as
  ``unencodable`` instead of failing later in the index;
* numbers must be finite (``NaN``/``Infinity`` are not JSON and no index stores them);
* keyword fields (matched exactly, shown in tables, used as filters) may not hold control
  characters (U+0000-U+001F, U+007F-U+009F): rejected as ``control_character``, never
  silently altered, so what is stored is what was sent. ``text`` may hold them (line breaks
  and tabs are ordinary in text);
* fields not named here are ignored (not stored); they are checked for encodability too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

CHANNELS = ("news", "chat")

# Elasticsearch refuses an _id over 512 bytes.
MAX_ID_BYTES = 512
# Keyword values are stored as single terms; Lucene refuses a term over 32 766 bytes. Producers'
# names and ids are far shorter: a longer value is a bug upstream, better caught here.
MAX_KEYWORD_BYTES = 1024
MAX_LANG_BYTES = 64
# metadata is stored, not indexed; the whole record is already bounded by
# MOODWATCH_MAX_MESSAGE_BYTES. Depth and entry bounds keep it a flat-ish bag of attributes that
# any JSON parser (ours, Elasticsearch's, the dashboard's) takes without recursion trouble.
MAX_METADATA_DEPTH = 8
MAX_METADATA_ENTRIES = 1000


class Kind(str, Enum):
    """How a field is checked and indexed."""

    TEXT = "text"  # free text, analysed
    KEYWORD = "keyword"  # an exact value
    CHANNEL = "channel"  # one of CHANNELS
    TIMESTAMP = "timestamp"  # ISO-8601
    OBJECT = "object"  # a JSON object, stored but not indexed


_MAPPINGS: dict[Kind, dict[str, Any]] = {
    Kind.TEXT: {"type": "text"},
    Kind.KEYWORD: {"type": "keyword"},
    Kind.CHANNEL: {"type": "keyword"},
    Kind.TIMESTAMP: {"type": "date"},
    Kind.OBJECT: {"type": "object", "enabled": False},
}

_TYPES: dict[Kind, str] = {
    Kind.TEXT: "string",
    Kind.KEYWORD: "string",
    Kind.CHANNEL: "`news` or `chat`",
    Kind.TIMESTAMP: "ISO-8601 string (naive = UTC)",
    Kind.OBJECT: "JSON object",
}


@dataclass(frozen=True, slots=True)
class ContractField:
    """One field of an input message."""

    name: str
    kind: Kind
    description: str
    default: str  # what the worker uses when the field is absent, for people
    required: bool = False
    max_bytes: int | None = None  # UTF-8 bytes (keyword fields)
    limits: str = ""  # further limits, for people (validation enforces them)
    csv_aliases: tuple[str, ...] = ()  # other CSV column names that mean this field

    @property
    def mapping(self) -> dict[str, Any]:
        """The Elasticsearch mapping of this field in the messages index."""
        return dict(_MAPPINGS[self.kind])

    @property
    def type_label(self) -> str:
        return _TYPES[self.kind]

    @property
    def limit_label(self) -> str:
        parts = [f"≤ {self.max_bytes} bytes (UTF-8)"] if self.max_bytes is not None else []
        if self.kind is Kind.KEYWORD:
            parts.append("no control characters")
        if self.limits:
            parts.append(self.limits)
        return "; ".join(parts) or "—"


FIELDS: tuple[ContractField, ...] = (
    ContractField(
        "text", Kind.TEXT, "The text to score.", "—", required=True,
        limits="non-empty (not only whitespace); ≤ `MOODWATCH_MAX_TEXT_CHARS` characters "
               "(10 000)",
    ),
    ContractField(
        "id", Kind.KEYWORD, "The message id: the document's `_id`, so a resend overwrites.",
        "`<topic>-<partition>-<offset>`", max_bytes=MAX_ID_BYTES, limits="not only whitespace",
        csv_aliases=("message_id",),
    ),
    ContractField(
        "channel", Kind.CHANNEL, "Which stream the text belongs to.",
        "from the topic it arrived on",
    ),
    ContractField(
        "source", Kind.KEYWORD, "Outlet, chat queue, feed: where the text came from.", "none",
        max_bytes=MAX_KEYWORD_BYTES,
    ),
    ContractField(
        "created_at", Kind.TIMESTAMP, "When the text was written.",
        "the Kafka record timestamp", limits="years 1-9999",
    ),
    ContractField(
        "lang", Kind.KEYWORD, "Language tag (e.g. `en`).", "none", max_bytes=MAX_LANG_BYTES,
        csv_aliases=("language",),
    ),
    ContractField(
        "author", Kind.KEYWORD, "Who wrote it (a customer or journalist id).", "none",
        max_bytes=MAX_KEYWORD_BYTES,
    ),
    ContractField(
        "conversation_id", Kind.KEYWORD, "The chat conversation the text is part of.", "none",
        max_bytes=MAX_KEYWORD_BYTES,
    ),
    ContractField(
        "metadata", Kind.OBJECT, "Anything else; stored with the document, not indexed.", "`{}`",
        limits=f"nested ≤ {MAX_METADATA_DEPTH} deep; ≤ {MAX_METADATA_ENTRIES} keys and items",
    ),
)

BY_NAME: dict[str, ContractField] = {f.name: f for f in FIELDS}
NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)


def csv_columns() -> dict[str, str]:
    """CSV column name → contract field.

    Not ``text`` (the caller names its column) nor ``metadata`` (a cell is a string, not an
    object: a column named so is kept under metadata like any other).
    """
    columns: dict[str, str] = {}
    for f in FIELDS:
        if f.kind in (Kind.TEXT, Kind.OBJECT):
            continue
        for column in (f.name, *f.csv_aliases):
            columns[column] = f.name
    return columns


def markdown_table() -> str:
    """README's table of the contract (one row per field)."""
    lines = [
        "| field | type | required | default | limits | description |",
        "|---|---|---|---|---|---|",
    ]
    for f in FIELDS:
        aliases = ", ".join(f"`{alias}`" for alias in f.csv_aliases)
        description = f.description + (f" In CSV also {aliases}." if aliases else "")
        lines.append(
            f"| `{f.name}` | {f.type_label} | {'yes' if f.required else 'no'} | {f.default} "
            f"| {f.limit_label} | {description} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - a convenience for editing README.md
    print(markdown_table(), end="")
