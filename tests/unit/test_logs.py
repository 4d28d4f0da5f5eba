"""Secrets that reach a log record are masked before they are written."""

from __future__ import annotations

import json
import logging

import pytest

from moodwatch.logs import JsonLines, RepeatLimit, SecretMask, secret_values, setup_logging
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


def test_a_library_repeating_itself_is_heard_once_per_window() -> None:
    now = [0.0]
    limit = RepeatLimit(window_s=30, clock=lambda: now[0])

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("9092",), None)

    passed = []
    for second in range(60):  # ten lines a second for a minute, as aiokafka does offline
        now[0] = float(second)
        for _ in range(10):
            passed.append(limit.filter(record("aiokafka.conn", "Unable connect to %s")))
    assert sum(passed) == 2, "once at 0 s, once at 30 s"
    assert limit.filter(record("aiokafka.conn", "another line %s")), "a new line is heard"
    assert all(limit.filter(record("moodwatch.dependencies", "x %s")) for _ in range(5))


def test_library_loggers_speak_at_warning_unless_debug(clean_env: pytest.MonkeyPatch) -> None:
    setup_logging(load_settings())
    assert logging.getLogger("elastic_transport").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("aiokafka").getEffectiveLevel() == logging.WARNING
    clean_env.setenv("MOODWATCH_LOG_LEVEL", "debug")
    setup_logging(load_settings())
    assert logging.getLogger("elastic_transport").getEffectiveLevel() == logging.DEBUG
