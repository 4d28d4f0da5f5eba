"""The taxonomy file: validated with messages that say where and what."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import TaxonomyError
from models.taxonomy import load_taxonomy, parse_taxonomy


def test_bundled_taxonomy_has_both_channels_and_other() -> None:
    taxonomy = load_taxonomy()
    assert set(taxonomy.channels) == {"news", "chat"}
    for channel in taxonomy.channels:
        assert "other" in {t.slug for t in taxonomy.for_channel(channel)}
    assert len(taxonomy.for_channel("chat")) >= 7
    assert len(taxonomy.for_channel("news")) >= 6


def test_round_trip_through_yaml() -> None:
    taxonomy = load_taxonomy()
    assert parse_taxonomy(taxonomy.to_yaml()) == taxonomy


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("channels: [", "not valid YAML"),
        ("topics: {}", "'channels' mapping"),
        ("channels: {chat: {refunds: 'money back'}}", "must keep an 'other' topic"),
        (
            "channels: {chat: {refunds: '', other: 'x'}}",
            "chat/refunds needs a one-line description",
        ),
        ("min_topic_confidence: 2\nchannels: {chat: {other: 'x'}}", "min_topic_confidence"),
    ],
)
def test_malformed_files_are_rejected(text: str, message: str) -> None:
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy(text, "my.yaml")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match=r"nope\.yaml"):
        load_taxonomy(tmp_path / "nope.yaml")
