"""Secrets that reach a log record are masked before they are written."""

from __future__ import annotations

import json
import logging

import pytest

from moodwatch.logs import JsonLines, SecretMask, secret_values, setup_logging
from moodwatch.settings import load_settings


def test_secret_values_are_masked_in_json_logs(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("MOODWATCH_ES_API_KEY", "abcd-secret-key")
    clean_env.setenv("MOODWATCH_LOG_FORMAT", "json")
    settings = load_settings()
    setup_logging(settings)
    logging.getLogger("moodwatch.test").warning("connecting with %s", "ApiKey abcd-secret-key")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["message"] == "connecting with ApiKey **********"
    assert "abcd-secret-key" not in line
    assert secret_values(settings) == ["abcd-secret-key"]


def test_mask_leaves_ordinary_records_alone() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "indexed %d docs", (5,), None)
    assert SecretMask(["hunter2"]).filter(record)
    assert JsonLines().format(record).count("indexed 5 docs") == 1
