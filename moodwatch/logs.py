"""Logging set-up shared by every moodwatch process: text or JSON lines, secrets masked.

Our own loggers say what an operator needs (a dependency down, back, a burst of dead letters);
libraries (Kafka client, Faust, the Elasticsearch transport, HTTP clients) speak only at WARNING
and above unless ``MOODWATCH_LOG_LEVEL=debug``, and a line they repeat is let through once per
``REPEAT_WINDOW_S``: an unreachable broker must not write ten lines a second.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from moodwatch.settings import Settings

MASK = "**********"
LIBRARY_LOGGERS = (
    "aiokafka",
    "kafka",
    "faust",
    "mode",
    "elasticsearch",
    "elastic_transport",
    "urllib3",
    "httpx",
    "httpcore",
    "aiohttp",
    "apscheduler",
    "streamlit",
    "transformers",
)
REPEAT_WINDOW_S = 30.0


class RepeatLimit(logging.Filter):
    """Lets a library's repeated line (same logger, same format string) through once per window.

    Our own loggers (``moodwatch``, ``stream``, ``models``, ...) pass untouched: they already
    log state changes, not retries.
    """

    def __init__(self, window_s: float = REPEAT_WINDOW_S, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] not in LIBRARY_LOGGERS:
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.window_s:
            return False
        self._last[key] = now
        return True


class SecretMask(logging.Filter):
    """Replaces any configured secret value that reaches a log record with a mask.

    A last line of defence: code should never log a secret, but a third-party library echoing a
    connection string must not leak one either.
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            masked = message
            for secret in self._secrets:
                masked = masked.replace(secret, MASK)
            if masked != message:
                record.msg, record.args = masked, None
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret (any SecretStr setting: Kafka, ES, webhook, SMTP, ...)."""
    values = []
    for name in type(settings).model_fields:
        secret = getattr(settings, name)
        if isinstance(secret, SecretStr):
            values.append(secret.get_secret_value())
    return values


def build_handler(settings: Settings) -> logging.Handler:
    """A stderr handler in the configured format that masks secrets."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(SecretMask(secret_values(settings)))
    if settings.log_level != "DEBUG":
        handler.addFilter(RepeatLimit())
    return handler


def library_level(settings: Settings) -> str:
    return "DEBUG" if settings.log_level == "DEBUG" else "WARNING"


def logging_config(settings: Settings) -> dict[str, object]:
    """The same set-up as a ``logging.config.dictConfig`` mapping (Faust's worker wants one)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"default": {"()": lambda: build_handler(settings)}},
        "root": {"level": settings.log_level, "handlers": ["default"]},
        "loggers": {name: {"level": library_level(settings)} for name in LIBRARY_LOGGERS},
    }


def setup_logging(settings: Settings) -> None:
    """Configure the root logger once per process from the settings."""
    handler = build_handler(settings)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library_level(settings))
