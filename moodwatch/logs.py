"""Logging set-up shared by every moodwatch process: text or JSON lines, secrets masked."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from pydantic import SecretStr

from moodwatch.settings import Settings

MASK = "**********"


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
    return handler


def logging_config(settings: Settings) -> dict[str, object]:
    """The same set-up as a ``logging.config.dictConfig`` mapping (Faust's worker wants one)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"default": {"()": lambda: build_handler(settings)}},
        "root": {"level": settings.log_level, "handlers": ["default"]},
    }


def setup_logging(settings: Settings) -> None:
    """Configure the root logger once per process from the settings."""
    handler = build_handler(settings)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
