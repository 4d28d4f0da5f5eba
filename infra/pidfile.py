"""Pid files, and whether the pid in one is still the process infra/ started.

A pid file can outlive its process (a crash, a reboot, SIGKILL), and Linux recycles pids, so a
pid alone proves nothing: a process counts as ours only while it is alive and its command line
carries our owner flag and our configuration path (:meth:`ServicePlan.owns`). Processes are
detached from whoever started them, so they are never our children: "alive" is read from /proc,
and a zombie (exited, waiting for init to reap it) counts as gone.
"""

from __future__ import annotations

from pathlib import Path

from infra.config import ServicePlan

_PROC = Path("/proc")


def read_pid(path: Path) -> int | None:
    """The pid in a pid file; None when the file is missing, empty or not a positive number."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def write_pid(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: a reader never sees a half-written number.
    partial = path.with_suffix(".pid.tmp")
    partial.write_text(f"{pid}\n", encoding="ascii")
    partial.replace(path)


def remove_pid(path: Path) -> None:
    path.unlink(missing_ok=True)


def is_alive(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie has exited)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    # "pid (comm) state ...": comm may hold spaces and parentheses; split at the last ")".
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def cmdline(pid: int) -> list[str] | None:
    """The process's arguments, or None when it is gone."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process, from /proc/<pid>/status; None when it is gone."""
    try:
        status = (_PROC / str(pid) / "status").read_text(encoding="utf-8")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def owned_pid(service: ServicePlan, *, forget_stale: bool = True) -> int | None:
    """The pid of this service's running process as recorded by infra/, else None.

    With ``forget_stale``, a stale pid file (garbage, process gone, or the pid now belongs to
    another program) is removed, so the next start does not trip over it.
    """
    pid = read_pid(service.pid_file)
    if pid is not None and is_ours(pid, service):
        return pid
    if forget_stale:
        remove_pid(service.pid_file)
    return None


def is_ours(pid: int, service: ServicePlan) -> bool:
    """Whether the pid is alive and is this service as infra/ started it."""
    args = cmdline(pid)
    return args is not None and is_alive(pid) and service.owns(args)
