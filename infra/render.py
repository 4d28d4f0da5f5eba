"""Plain-text table of service statuses, for ``python -m infra status`` and the moodwatch CLI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from infra.services import ServiceStatus

_COLUMNS = ("service", "version", "port", "pid", "state", "heap", "rss", "data", "log")


def render(statuses: Sequence[ServiceStatus], relative_to: Path | None = None) -> str:
    """One row per service; log paths shortened relative to ``relative_to`` when inside it."""
    rows = [_COLUMNS] + [_row(status, relative_to) for status in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def state(status: ServiceStatus) -> str:
    if status.running:
        return "healthy" if status.healthy else "starting"
    # Something answers on the port but infra/ did not start it (and `down` will not stop it).
    return "healthy (external)" if status.healthy else "stopped"


def size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return "-"
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _row(status: ServiceStatus, relative_to: Path | None) -> tuple[str, ...]:
    log = status.log_path
    if relative_to is not None and log.is_relative_to(relative_to):
        log = log.relative_to(relative_to)
    return (
        status.name,
        status.version,
        str(status.port),
        str(status.pid) if status.pid is not None else "-",
        state(status),
        status.heap,
        size(status.rss_bytes),
        size(status.data_bytes),
        str(log),
    )
