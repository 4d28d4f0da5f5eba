"""Who holds each port moodwatch uses: nobody, our own service, or something else.

A port is "ours" when the process on it speaks the protocol we expect there: Kafka answers a
Metadata request, Elasticsearch its cluster-health API, a worker or alerter ``/health`` with a
JSON ``ok``, the dashboard Streamlit's ``/_stcore/health``. Anything else listening there is a
busy port: our service cannot start on it, and a client pointed at it waits for an answer that
never comes.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra import probes
from moodwatch.doctor.findings import Finding, fail, ok, warn
from moodwatch.settings import Settings

Speaks = Callable[[int, float], bool]


@dataclass(frozen=True)
class PortUse:
    """One port moodwatch binds: what should be there and the setting that moves it."""

    service: str
    port: int
    variable: str
    speaks: Speaks
    also_move: str = ""  # the client-side setting to change with it


def kafka_speaks(port: int, timeout_s: float) -> bool:
    return probes.kafka_ready(port, timeout_s)


def elasticsearch_speaks(port: int, timeout_s: float) -> bool:
    body = _get_json(port, "/_cluster/health", timeout_s)
    return isinstance(body, dict) and "cluster_name" in body


def web_health_speaks(port: int, timeout_s: float) -> bool:
    """A worker's or alerter's ``/health``: JSON with ``ok`` (503 while paused still counts)."""
    body = _get_json(port, "/health", timeout_s)
    return isinstance(body, dict) and "ok" in body


def streamlit_speaks(port: int, timeout_s: float) -> bool:
    return _get_text(port, "/_stcore/health", timeout_s) == "ok"


def port_uses(settings: Settings) -> list[PortUse]:
    return [
        PortUse("Kafka", settings.kafka_port, "MOODWATCH_KAFKA_PORT", kafka_speaks,
                "MOODWATCH_KAFKA_BOOTSTRAP_SERVERS"),
        PortUse("Elasticsearch", settings.es_port, "MOODWATCH_ES_PORT", elasticsearch_speaks,
                "MOODWATCH_ES_HOSTS"),
        PortUse("dashboard", settings.dashboard_port, "MOODWATCH_DASHBOARD_PORT",
                streamlit_speaks, "MOODWATCH_DASHBOARD_URL"),
        PortUse("worker", settings.worker_web_port, "MOODWATCH_WORKER_WEB_PORT",
                web_health_speaks),
        PortUse("alerter", settings.alerter_web_port, "MOODWATCH_ALERTER_WEB_PORT",
                web_health_speaks),
    ]


def check_port(use: PortUse, timeout_s: float) -> Finding:
    check = f"port {use.port}"
    if probes.port_is_free(use.port):
        return ok(check, f"{use.port} ({use.service}) is free", state="free", service=use.service)
    if use.speaks(use.port, timeout_s):
        trouble = _reported_trouble(use, timeout_s)
        if trouble:
            return warn(check, f"{use.port} is held by {use.service}, which reports: {trouble}",
                        f"see the {use.service}'s log; the checks below name a service that is "
                        "down", state="ours", service=use.service)
        return ok(check, f"{use.port} is held by {use.service}", state="ours",
                  service=use.service)
    holder = listener_process(use.port)
    who = f"{holder} " if holder else "a process "
    other = use.port + 10000 if use.port + 10000 <= 65535 else use.port - 10000
    move = f"{use.variable}={other}"
    if use.also_move:
        move += f" (and point {use.also_move} at port {other})"
    return fail(
        check,
        f"{use.port} is busy: {who}that is not {use.service} listens on it",
        f"stop it (`ss -ltnp 'sport = :{use.port}'` shows it) or move ours: {move}",
        state="busy",
        service=use.service,
        holder=holder,
    )


def _reported_trouble(use: PortUse, timeout_s: float) -> str | None:
    """What a worker's or alerter's ``/health`` says is wrong (paused, failing), if anything."""
    if use.speaks is not web_health_speaks:
        return None
    body = _get_json(use.port, "/health", timeout_s)
    if not isinstance(body, dict) or body.get("ok") is not False:
        return None
    failing = body.get("failing") or body.get("rule_problems")
    if failing:
        return json.dumps(failing)
    return "not ok (paused)" if body.get("paused") else "not ok"


def listener_process(port: int, proc: Path = Path("/proc")) -> str | None:
    """``"pid 123 (java)"`` for the process listening on ``port``, when /proc lets us see it."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    name = (entry / "comm").read_text().strip()
                    return f"pid {entry.name} ({name})"
        except OSError:  # not ours to read, or gone meanwhile
            continue
    return None


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is field 9.
            if len(fields) <= 9 or fields[3] != "0A":
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


# Straight to the port: an HTTP_PROXY in the environment must not answer for a local port.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_text(port: int, path: str, timeout_s: float) -> str | None:
    try:
        with _DIRECT.open(f"http://{probes.HOST}:{port}{path}", timeout=timeout_s) as r:
            return str(r.read(65536).decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:  # a 503 from /health still tells who is speaking
        return str(exc.read(65536).decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None


def _get_json(port: int, path: str, timeout_s: float) -> object:
    text = _get_text(port, path, timeout_s)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
