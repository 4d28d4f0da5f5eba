"""Start, stop and inspect the local Kafka and Elasticsearch.

The public surface used by ``python -m infra``, ``moodwatch infra`` and the test fixtures:

    up(settings)                  start what is not running, wait until both answer
    down(settings)                stop what infra/ started (SIGTERM, then SIGKILL after a timeout)
    status(settings)              one ServiceStatus per service, without changing anything
    ensure_running(settings)      for test sessions: return at once when both already answer
    stop_service(name, settings)  stop one service ("kafka" or "elasticsearch")
    start_service(name, settings) start one service and wait until it answers

Services run detached (their own session and process group, not children of the caller), so
they outlive the command that started them. They write everything to one log file each, under
``<infra_home>/<service>/logs``. Calls that change state hold a lock file, so two ``up`` calls
at once (a CLI and a test session) start each service once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra import jars, probes
from infra.config import (
    SERVICE_NAMES,
    SOURCES,
    ServiceName,
    ServicePlan,
    elasticsearch_command,
    elasticsearch_settings,
    infra_home,
    jar_folders,
    kafka_command,
    kafka_format_command,
    kafka_properties,
    new_cluster_id,
    plan,
    render_properties,
    render_yaml,
)
from infra.pidfile import is_alive, owned_pid, remove_pid, rss_bytes, write_pid
from moodwatch.errors import InfraError
from moodwatch.settings import Settings

START_TIMEOUT_S: dict[ServiceName, float] = {"kafka": 120.0, "elasticsearch": 180.0}
STOP_TIMEOUT_S = 60.0
KILL_WAIT_S = 10.0
FORMAT_TIMEOUT_S = 120.0
_POLL_S = 0.25
_LOG_TAIL_LINES = 25

_GENERATED = "Written by infra/ at every start; edit infra/config.py instead."


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status`` knows about one service."""

    name: ServiceName
    version: str
    port: int
    pid: int | None  # set while a process infra/ started is alive
    running: bool  # that process is alive (it may still be starting)
    healthy: bool  # something answers the service's protocol on the port
    heap: str
    rss_bytes: int | None
    data_bytes: int
    log_path: Path

    @property
    def foreign(self) -> bool:
        """Healthy, but served by a process infra/ did not start (e.g. docker compose)."""
        return self.healthy and not self.running


# --- public API ------------------------------------------------------------------------------


def up(settings: Settings) -> list[ServiceStatus]:
    """Start every service that is not running and wait until all answer.

    A service that is already ours and healthy is left alone; one that is ours and still starting
    is waited for. A port held by a process infra/ did not start is an InfraError naming the
    port and the variable that moves it.
    """
    _start(settings, SERVICE_NAMES)
    return status(settings)


def down(settings: Settings) -> list[ServiceStatus]:
    """Stop the services infra/ started; a no-op for those not running."""
    with _exclusive(settings):
        _stop([plan(settings, name) for name in SERVICE_NAMES])
    return status(settings)


def status(settings: Settings) -> list[ServiceStatus]:
    return [_status(plan(settings, name)) for name in SERVICE_NAMES]


def ensure_running(settings: Settings) -> list[ServiceStatus]:
    """Both services answering, started if needed; fast when they already answer.

    Unlike :func:`up`, a healthy service that infra/ did not start (docker compose, a CI
    service container) is accepted as it is.
    """
    missing = [name for name in SERVICE_NAMES if not _healthy(plan(settings, name))]
    if missing:
        _start(settings, missing)
    return status(settings)


def start_service(name: str, settings: Settings) -> ServiceStatus:
    service_name = _service_name(name)
    _start(settings, [service_name])
    return _status(plan(settings, service_name))


def stop_service(name: str, settings: Settings) -> ServiceStatus:
    service = plan(settings, _service_name(name))
    with _exclusive(settings):
        _stop([service])
    return _status(service)


def all_healthy(statuses: Sequence[ServiceStatus]) -> bool:
    return all(service.healthy for service in statuses)


# --- starting --------------------------------------------------------------------------------


def _start(settings: Settings, names: Sequence[ServiceName]) -> None:
    with _exclusive(settings):
        # Every port is checked before anything starts: a busy Elasticsearch port must not
        # leave a freshly started Kafka behind.
        for name in names:
            service = plan(settings, name)
            if owned_pid(service) is None:
                _check_ports(service)
        # Launch all first, then wait: the JVMs warm up side by side.
        launched = [(plan(settings, name), _launch(settings, name)) for name in names]
        for service, pid in launched:
            _wait_ready(service, pid, START_TIMEOUT_S[service.name])


def _launch(settings: Settings, name: ServiceName) -> int:
    """The pid of the service's process: the running one, or a freshly started one."""
    service = plan(settings, name)
    pid = owned_pid(service)
    if pid is not None:
        return pid  # healthy, or still starting: _wait_ready tells which
    java = jars.java()
    folders = jar_folders(settings)
    jars.ensure_jars(folders, name)
    for folder in (service.config_file.parent, service.data_dir, service.log_file.parent):
        folder.mkdir(parents=True, exist_ok=True)
    if name == "kafka":
        service.config_file.write_text(
            render_properties(kafka_properties(settings, service.data_dir), _GENERATED),
            encoding="utf-8",
        )
        if not (service.data_dir / "meta.properties").exists():
            _format_kafka_storage(
                service, kafka_format_command(java, settings, folders.kafka, new_cluster_id())
            )
        command = kafka_command(java, settings, folders.kafka)
    else:
        service.config_file.write_text(
            render_yaml(elasticsearch_settings(settings, service.home), _GENERATED),
            encoding="utf-8",
        )
        # The node reads log4j2.properties from its config folder.
        shutil.copyfile(
            SOURCES / "elasticsearch" / "log4j2.properties",
            service.config_file.parent / "log4j2.properties",
        )
        (service.home / "tmp").mkdir(exist_ok=True)
        command = elasticsearch_command(java, settings, folders.elasticsearch, folders.launcher)
    _rotate(service.log_file)
    pid = _spawn_detached(command, service.log_file, cwd=service.home)
    write_pid(service.pid_file, pid)
    return pid


def _check_ports(service: ServicePlan) -> None:
    for variable, port in service.ports.items():
        if probes.port_is_free(port):
            continue
        other = port + 10000 if port + 10000 <= 65535 else port - 10000
        raise InfraError(
            f"port {port} on 127.0.0.1 is in use by a process infra/ did not start, and "
            f"{service.name} needs it ({variable}). Stop that process "
            f"(`ss -ltnp 'sport = :{port}'` shows it) or move the local {service.name}: "
            f"e.g. {variable}={other}"
            + _client_hint(variable, other)
            + f". (infra/ only knows the services it started under {service.home.parent}; "
            "if you started them from another folder, run from there or set MOODWATCH_INFRA_HOME.)"
        )


def _client_hint(variable: str, port: int) -> str:
    if variable == "MOODWATCH_KAFKA_PORT":
        return f" and MOODWATCH_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{port}"
    if variable == "MOODWATCH_ES_PORT":
        return f" and MOODWATCH_ES_HOSTS=http://127.0.0.1:{port}"
    return ""


def _format_kafka_storage(service: ServicePlan, command: list[str]) -> None:
    """Give a new data folder its KRaft identity (cluster id, node id); once per folder."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"formatting Kafka storage in {service.data_dir} timed out") from exc
    if done.returncode != 0:
        raise InfraError(
            f"formatting Kafka storage in {service.data_dir} failed (exit {done.returncode}):\n"
            + (done.stdout + done.stderr).strip()
        )


def _spawn_detached(command: list[str], log_file: Path, cwd: Path) -> int:
    """Start a command that outlives us, and return its pid.

    A short-lived shell in a new session starts the command in the background and exits, so the
    service is re-parented to init: never our child, never a zombie we must reap, untouched by a
    Ctrl-C or hang-up sent to the caller's terminal.
    """
    script = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", script, "sh", str(log_file), *command],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            start_new_session=True,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfraError(f"could not start {command[-2]}: {exc}") from exc
    pid_text = done.stdout.strip()
    if done.returncode != 0 or not pid_text.isdigit():
        raise InfraError(f"could not start {command[-2]}: {done.stderr.strip() or pid_text}")
    return int(pid_text)


def _wait_ready(service: ServicePlan, pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not _healthy(service):
        if not is_alive(pid):
            remove_pid(service.pid_file)
            raise InfraError(
                f"{service.name} exited during start-up. Last lines of {service.log_file}:\n"
                + _tail(service.log_file)
            )
        if time.monotonic() > deadline:
            raise InfraError(
                f"{service.name} (pid {pid}) did not answer on port {service.port} within "
                f"{timeout_s:.0f} s; it is still running (`moodwatch infra down` stops it). "
                f"Last lines of {service.log_file}:\n" + _tail(service.log_file)
            )
        time.sleep(_POLL_S)


# --- stopping --------------------------------------------------------------------------------


def _stop(services: Sequence[ServicePlan]) -> None:
    # SIGTERM to all first: the controlled shutdowns run side by side.
    running = [(service, pid) for service in services if (pid := owned_pid(service)) is not None]
    for _, pid in running:
        _signal(pid, signal.SIGTERM)
    for service, pid in running:
        if not _wait_gone(pid, STOP_TIMEOUT_S):
            _signal(pid, signal.SIGKILL)
            if not _wait_gone(pid, KILL_WAIT_S):
                raise InfraError(f"{service.name} (pid {pid}) survived SIGKILL; stop it by hand")
        remove_pid(service.pid_file)


def _signal(pid: int, signum: signal.Signals) -> None:
    # ProcessLookupError: it exited on its own in the meantime, which is the goal anyway.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    return _wait_until(lambda: not is_alive(pid), timeout_s)


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)
    return True


# --- inspecting ------------------------------------------------------------------------------


def _status(service: ServicePlan) -> ServiceStatus:
    # forget_stale=False: a status call must not race a concurrent start over the pid file.
    pid = owned_pid(service, forget_stale=False)
    return ServiceStatus(
        name=service.name,
        version=service.version,
        port=service.port,
        pid=pid,
        running=pid is not None,
        healthy=_healthy(service),
        heap=service.heap,
        rss_bytes=rss_bytes(pid) if pid is not None else None,
        data_bytes=_disk_usage(service.data_dir),
        log_path=service.log_file,
    )


def _healthy(service: ServicePlan) -> bool:
    if service.name == "kafka":
        return probes.kafka_ready(service.port)
    return probes.elasticsearch_ready(service.port)


def _disk_usage(folder: Path) -> int:
    """Bytes on disk (allocated blocks: Kafka's index files are sparse, their size misleads)."""
    total = 0
    for root, _, files in os.walk(folder):
        for file in files:
            try:
                total += os.lstat(os.path.join(root, file)).st_blocks * 512
            except FileNotFoundError:
                continue  # a segment deleted while we walked
    return total


def _tail(log_file: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with log_file.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "    (no log written)"
    if not text.strip():
        return "    (the log is still empty)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def _rotate(log_file: Path) -> None:
    # One previous run is kept beside the current one; older ones are dropped.
    if log_file.exists() and log_file.stat().st_size > 0:
        log_file.replace(log_file.with_name(log_file.name + ".1"))


@contextmanager
def _exclusive(settings: Settings) -> Iterator[None]:
    home = infra_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".infra.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _service_name(name: str) -> ServiceName:
    for known in SERVICE_NAMES:
        if name == known:
            return known
    raise InfraError(f"unknown service {name!r}; expected one of {', '.join(SERVICE_NAMES)}")
