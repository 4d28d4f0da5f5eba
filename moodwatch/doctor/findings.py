"""One check's verdict: what was looked at, what was found, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """``ok`` passes; ``warn`` is worth knowing but does not fail doctor; ``fail`` does."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """The result of one check.

    ``fix`` is set whenever ``status`` is not ok: the command or setting that makes it ok.
    ``unreachable`` marks a failure that means "a service cannot be reached" (exit code 3),
    as opposed to "something needs fixing" (exit code 1).
    """

    check: str
    status: Status
    summary: str
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    unreachable: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status.value,
            "summary": self.summary,
            "fix": self.fix or None,
            "details": self.details,
        }


def ok(check: str, summary: str, **details: Any) -> Finding:
    return Finding(check, Status.OK, summary, details=details)


def warn(check: str, summary: str, fix: str, **details: Any) -> Finding:
    return Finding(check, Status.WARN, summary, fix, details)


def fail(check: str, summary: str, fix: str, *, unreachable: bool = False,
         **details: Any) -> Finding:
    return Finding(check, Status.FAIL, summary, fix, details, unreachable)
