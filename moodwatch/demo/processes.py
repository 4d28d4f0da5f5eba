"""The demo's background processes: start, find again, wait until healthy, stop.

Each process is ``python -m moodwatch <args>`` in its own session (a Ctrl-C in the terminal
reaches only the demo, which then stops them in order), with a pid file and a log under
``<infra_home>/demo/``. A pid file is trusted only while the process it names runs exactly our
command line (pids are recycled), so a stale file never makes us signal a stranger.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infra import pidfile
from moodwatch.errors import InfraError

STOP_TIMEOUT_S = 30.0
KILL_WAIT_S = 5.0


@dataclass(frozen=True)
class Process:
    """One long-running moodwatch command the demo starts."""

    name: str
    args: tuple[str, ...]
    health_url: str | None = None  # a URL answering 200 once it serves; None: alive is enough
    env: Mapping[str, str] = field(default_factory=dict)
    # How its command line reads after the interpreter once it runs, when the command replaces
    # itself (``moodwatch dashboard`` execs Streamlit); default ``-m moodwatch <args>``.
    runs_as: tuple[str, ...] | None = None

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "moodwatch", *self.args]

    def is_running_as(self, line: Sequence[str]) -> bool:
        """Whether a process whose command line is ``line`` is this one."""
        return list(line[1:]) == self.command[1:] or (
            self.runs_as is not None and tuple(line[1 : 1 + len(self.runs_as)]) == self.runs_as
        )


def healthy(url: str) -> bool:
    """True when ``url`` answers 200 (and, for a JSON body with ``ok``, ``ok`` is true)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - our http URL
            body = reply.read()
    except (OSError, ValueError):
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return True  # a plain-text health page (Streamlit's says "ok")
    return not isinstance(data, dict) or bool(data.get("ok", True))


class Supervisor:
    """Starts, finds and stops the demo's processes; their state lives in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def pid_path(self, name: str) -> Path:
        return self.folder / f"{name}.pid"

    def log_path(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def running(self, process: Process) -> int | None:
        """The pid when ``process`` runs; a stale pid file is removed."""
        path = self.pid_path(process.name)
        pid = pidfile.read_pid(path)
        if pid is not None and pidfile.is_alive(pid):
            line = pidfile.cmdline(pid)
            if line is not None and process.is_running_as(line):
                return pid
        pidfile.remove_pid(path)
        return None

    def start(self, process: Process) -> tuple[int, bool]:
        """``(pid, started)``: a process already running is left alone (``started`` False)."""
        pid = self.running(process)
        if pid is not None:
            return pid, False
        self.folder.mkdir(parents=True, exist_ok=True)
        log = self.log_path(process.name)
        with log.open("ab") as sink:
            child = subprocess.Popen(
                process.command,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **process.env},
                start_new_session=True,
            )
        pidfile.write_pid(self.pid_path(process.name), child.pid)
        self._children[process.name] = child
        return child.pid, True

    def wait_healthy(self, process: Process, timeout_s: float) -> None:
        """Wait until ``process`` answers its health URL; an InfraError naming its log when it
        exits or the time runs out."""
        deadline = time.monotonic() + timeout_s
        child = self._children.get(process.name)
        while True:
            # Our own child: its exit status (its command line may not be exec'd yet).
            gone = child.poll() is not None if child else self.running(process) is None
            if gone:
                raise InfraError(
                    f"the {process.name} exited while starting; see {self.log_path(process.name)}"
                )
            if process.health_url is None or healthy(process.health_url):
                return
            if time.monotonic() > deadline:
                raise InfraError(
                    f"the {process.name} did not become healthy in {timeout_s:.0f} s; "
                    f"see {self.log_path(process.name)}"
                )
            time.sleep(0.5)

    def stop(self, process: Process) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; the pid, or None when it did not run."""
        name = process.name
        pid = self.running(process)
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, STOP_TIMEOUT_S):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not _wait_gone(pid, KILL_WAIT_S):
                raise InfraError(f"the demo {name} (pid {pid}) survived SIGKILL; stop it by hand")
        pidfile.remove_pid(self.pid_path(name))
        self._children.pop(name, None)
        return pid


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while pidfile.is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
