"""The messages index template follows the settings: shards, replicas, period."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moodwatch.errors import SettingsError
from moodwatch.settings import load_settings
from stream.index_layout import layout_for


def test_shards_and_replicas_of_new_messages_indices_come_from_the_settings(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("MOODWATCH_ES_SHARDS", "3")
    clean_env.setenv("MOODWATCH_ES_REPLICAS", "1")
    clean_env.setenv("MOODWATCH_ES_INDEX_PERIOD", "day")
    layout = layout_for(load_settings())
    settings = layout.messages_template_body()["template"]["settings"]
    assert (settings["number_of_shards"], settings["number_of_replicas"]) == (3, 1)
    assert layout.messages_index(datetime(2026, 12, 3, tzinfo=UTC)).endswith("-2026.12.03")


def test_one_shard_by_default(clean_env: pytest.MonkeyPatch) -> None:
    settings = layout_for(load_settings()).messages_template_body()["template"]["settings"]
    assert settings["number_of_shards"] == 1


def test_a_shard_count_out_of_range_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MOODWATCH_ES_SHARDS", "0")
    with pytest.raises(SettingsError, match="MOODWATCH_ES_SHARDS"):
        load_settings()
