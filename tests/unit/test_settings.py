"""The one settings object: environment in, clear errors out, secrets never printed."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from moodwatch.cli import cli
from moodwatch.errors import SettingsError
from moodwatch.settings import load_settings


def test_defaults_and_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MOODWATCH_KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9093")
    clean_env.setenv("MOODWATCH_BATCH_MAX_SIZE", "128")
    settings = load_settings()
    assert settings.bootstrap_servers == ["k1:9092", "k2:9093"]
    assert settings.batch_max_size == 128
    assert settings.topic_news == "news" and settings.topic_dead_letter == "dead-letter"
    assert settings.input_topics == {"news": "news", "chat": "chat"}


def test_dotenv_file_is_read(clean_env: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text("MOODWATCH_ES_INDEX_PREFIX=acme\n")
    assert load_settings().es_index_prefix == "acme"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "MOODWATCH_BATCH_MAX_SIZE",
            "many",
            "MOODWATCH_BATCH_MAX_SIZE: Input should be a valid integer",
        ),
        (
            "MOODWATCH_BATCH_MAX_WAIT_S",
            "0",
            "MOODWATCH_BATCH_MAX_WAIT_S: Input should be greater than 0",
        ),
        (
            "MOODWATCH_KAFKA_BOOTSTRAP_SERVERS",
            "localhost",
            "MOODWATCH_KAFKA_BOOTSTRAP_SERVERS: Value error, expected host:port",
        ),
        (
            "MOODWATCH_ES_HOSTS",
            "ftp://x",
            "MOODWATCH_ES_HOSTS: Value error, expected http(s)://host:port",
        ),
        ("MOODWATCH_DEVICE", "tpu", "MOODWATCH_DEVICE: Input should be 'auto', 'cpu' or 'cuda'"),
        (
            "MOODWATCH_ES_INDEX_PREFIX",
            "Bad Prefix",
            "MOODWATCH_ES_INDEX_PREFIX: String should match pattern",
        ),
    ],
)
def test_malformed_values_name_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert expected in str(info.value)


def test_cross_field_errors_never_echo_secrets(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MOODWATCH_ES_API_KEY", "key-s3cret-value")
    clean_env.setenv("MOODWATCH_ES_USERNAME", "elastic")
    clean_env.setenv("MOODWATCH_ES_PASSWORD", "pw-s3cret-value")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "either MOODWATCH_ES_API_KEY or ES username/password" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_sasl_needs_a_mechanism_and_user(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MOODWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(SettingsError, match="MOODWATCH_KAFKA_SASL_MECHANISM"):
        load_settings()


def test_config_show_masks_secrets(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MOODWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    clean_env.setenv("MOODWATCH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    clean_env.setenv("MOODWATCH_KAFKA_SASL_USERNAME", "moodwatch")
    clean_env.setenv("MOODWATCH_KAFKA_SASL_PASSWORD", "kafka-pw-123")
    clean_env.setenv("MOODWATCH_ES_API_KEY", "es-key-456")
    result = CliRunner().invoke(cli, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["kafka_sasl_password"] == "**********"
    assert shown["es_api_key"] == "**********"
    assert shown["kafka_sasl_username"] == "moodwatch"
    assert "kafka-pw-123" not in result.output and "es-key-456" not in result.output


def test_cli_reports_bad_settings_without_traceback(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MOODWATCH_ES_PORT", "99999")
    result = CliRunner().invoke(cli, ["config", "show"])
    assert result.exit_code == 1  # a moodwatch error (bad setting), not a command-line usage error
    assert "MOODWATCH_ES_PORT" in result.output
    assert "Traceback" not in result.output
