"""`moodwatch dashboard` serves the entry script on the configured address."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from moodwatch.cli import cli
from moodwatch.commands.dashboard import entry_script, streamlit_argv
from moodwatch.settings import load_settings


def test_binds_localhost_8501_by_default(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.dashboard_host, settings.dashboard_port) == ("127.0.0.1", 8501)
    assert settings.dashboard_password is None
    argv = streamlit_argv(settings.dashboard_host, settings.dashboard_port)
    assert argv[1:5] == ["-m", "streamlit", "run", str(entry_script())]
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--server.port") + 1] == "8501"
    assert entry_script().is_file()


def test_the_password_is_a_secret_never_shown(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MOODWATCH_DASHBOARD_PASSWORD", "hunter2-dashboard")
    assert load_settings().masked()["dashboard_password"] == "**********"
    shown = CliRunner().invoke(cli, ["config", "show"])
    assert "hunter2-dashboard" not in shown.output


def test_listed_in_the_help() -> None:
    assert "dashboard" in CliRunner().invoke(cli, ["--help"]).output
