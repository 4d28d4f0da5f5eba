"""The message contract is defined once (stream/contract.py); README, mapping, document and the
feeder's CSV columns follow it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from stream.contract import FIELDS, NAMES, markdown_table
from stream.documents import contract_fields
from stream.feeder import RowOptions, parse_rows
from stream.index_layout import MESSAGE_PROPERTIES
from stream.records import Message, Position
from stream.validation import Limits, validate

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_is_the_contract() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- contract:[^\n]*-->\n(.*?)<!-- /contract -->", text, re.DOTALL)
    assert found, "README.md lost its contract markers in 'Sending messages'"
    assert found.group(1) == markdown_table(), (
        "README's message table is out of date: paste `python -m stream.contract` between "
        "the contract markers"
    )


def test_mapping_has_every_contract_field_and_keeps_the_existing_types() -> None:
    # Existing indices were created with these types: a change needs a new MAPPING_VERSION.
    assert {name: MESSAGE_PROPERTIES[name] for name in NAMES} == {
        "text": {"type": "text"}, "id": {"type": "keyword"}, "channel": {"type": "keyword"},
        "source": {"type": "keyword"}, "created_at": {"type": "date"},
        "lang": {"type": "keyword"}, "author": {"type": "keyword"},
        "conversation_id": {"type": "keyword"}, "metadata": {"type": "object", "enabled": False},
    }


def test_a_full_message_round_trips_into_the_document() -> None:
    sent = {"text": "late again", "id": "c-1", "channel": "chat", "source": "web",
            "created_at": "2026-11-22T08:00:00Z", "lang": "en", "author": "u1",
            "conversation_id": "k-9", "metadata": {"tier": "gold"}}
    assert set(sent) == set(NAMES), "the example should carry every field"
    message = validate(json.dumps(sent).encode(), Position("chat", 0, 1), None, None,
                       Limits(65536, 10000))
    assert isinstance(message, Message)
    document = contract_fields(message)
    assert set(document) == set(NAMES)
    assert {**document, "created_at": "2026-11-22T08:00:00Z"} == sent
    assert datetime.fromisoformat(document["created_at"]) == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert set(MESSAGE_PROPERTIES) >= set(document)


def test_csv_columns_follow_the_contract_names_and_aliases() -> None:
    lines = [
        "message_id,language,text,id,metadata,mood\n",
        "alias-id,de,Hallo,own-id,raw,ok\n",
        "only-alias,fr,Salut,,,\n",
    ]
    first, second = parse_rows(lines, "csv", "t.csv", RowOptions("chat", stamp=False))
    # A field's own name wins over its alias; the alias cell is then kept as metadata.
    assert first == {"text": "Hallo", "id": "own-id", "lang": "de", "channel": "chat",
                     "metadata": {"message_id": "alias-id", "metadata": "raw", "mood": "ok"}}
    assert second == {"text": "Salut", "id": "only-alias", "lang": "fr", "channel": "chat"}


def test_every_field_is_documented() -> None:
    for field in FIELDS:
        assert field.description.endswith(".") and field.default, field.name
        assert f"| `{field.name}` |" in markdown_table()


def test_feed_help_names_every_csv_column() -> None:
    from click.testing import CliRunner

    from moodwatch.cli import cli
    from stream.contract import csv_columns

    shown = " ".join(CliRunner().invoke(cli, ["feed", "--help"]).output.split())
    for column in csv_columns():
        if column != "channel":  # the channel comes from --channel, or a row's own field
            assert column in shown, column
