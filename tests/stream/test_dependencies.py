"""A dependency outage is one warning, a reminder every 30 s, and one line when it is back."""

from __future__ import annotations

import logging

import pytest

from stream.dependencies import Dependencies


def test_an_outage_of_a_minute_is_three_lines(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    changes: list[tuple[str, bool]] = []
    deps = Dependencies(clock=lambda: now[0], on_change=lambda n, up: changes.append((n, up)))
    caplog.set_level(logging.INFO, logger="moodwatch.dependencies")
    for tick in range(0, 601):  # a retry every 0.1 s for 60 s
        now[0] = tick / 10
        deps["elasticsearch"].failed("unreachable (ConnectionError)")
    assert deps.failing() == {"elasticsearch": "unreachable (ConnectionError)"}
    deps["elasticsearch"].recovered()
    deps["elasticsearch"].recovered()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 3  # down at 0 s, reminders at 30 s and 60 s
    assert "elasticsearch is down" in warnings[0].getMessage()
    assert len(infos) == 1 and "back after 60 s" in infos[0].getMessage()
    assert deps.failing() == {}
    assert changes[-2:] == [("elasticsearch", False), ("elasticsearch", True)]
