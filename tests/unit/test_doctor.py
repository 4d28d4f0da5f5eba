"""moodwatch doctor without services: each check on real inputs it can judge offline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from models.registry import Registry
from moodwatch.doctor import Report, Status, host, kafka, ports, state
from moodwatch.doctor.findings import fail, ok, warn
from moodwatch.errors import EXIT_ERROR, EXIT_UNAVAILABLE
from moodwatch.settings import Settings

GIB = 1024**3


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


# --- host -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "release"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_402"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("command not found", None),
    ],
)
def test_java_release_is_read_from_version_output(output: str, release: int | None) -> None:
    assert host.parse_java_version(output) == release


def test_python_outside_the_supported_range_fails_with_advice() -> None:
    assert host.check_python((3, 11)).status is Status.OK
    too_new = host.check_python((3, 12))
    assert too_new.status is Status.FAIL
    assert "3.11" in too_new.fix


def test_missing_java_fails_only_when_the_local_services_need_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    needed = host.check_java(needed=True, timeout_s=1)
    assert needed.status is Status.FAIL
    assert "openjdk-17" in needed.fix
    assert host.check_java(needed=False, timeout_s=1).status is Status.WARN
    assert host.check_maven(needed=True, jars_fetched=True).status is Status.WARN
    assert host.check_maven(needed=True, jars_fetched=False).status is Status.FAIL


@pytest.mark.parametrize(
    ("available", "status"),
    [(None, Status.WARN), (GIB // 2, Status.FAIL), (2 * GIB, Status.WARN), (8 * GIB, Status.OK)],
)
def test_memory_thresholds(available: int | None, status: Status) -> None:
    finding = host.check_memory(available)
    assert finding.status is status
    assert (finding.fix != "") == (status is not Status.OK)


def test_available_memory_is_read_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 24000000 kB\nMemAvailable: 2048 kB\n")
    assert host.available_memory(meminfo) == 2048 * 1024
    assert host.available_memory(tmp_path / "missing") is None


def test_disk_checks_the_nearest_existing_folder(tmp_path: Path) -> None:
    finding = host.check_disk(tmp_path / "not" / "yet" / "there")
    assert finding.details["path"] == str(tmp_path.resolve())
    assert host.check_disk(tmp_path, free=GIB // 2).status is Status.FAIL
    assert host.check_disk(tmp_path, free=3 * GIB).status is Status.WARN


# --- ports ------------------------------------------------------------------------------------


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port something listens on without ever answering (like a stuck or foreign server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_port_held_by_something_else_is_busy_with_its_pid_and_a_way_out(
    silent_listener: int,
) -> None:
    use = ports.PortUse("Kafka", silent_listener, "MOODWATCH_KAFKA_PORT", ports.kafka_speaks,
                        "MOODWATCH_KAFKA_BOOTSTRAP_SERVERS")
    finding = ports.check_port(use, timeout_s=0.5)
    assert finding.status is Status.FAIL
    assert finding.details["state"] == "busy"
    assert finding.details["holder"].startswith(f"pid {os.getpid()} ")
    assert "MOODWATCH_KAFKA_PORT=" in finding.fix
    assert "MOODWATCH_KAFKA_BOOTSTRAP_SERVERS" in finding.fix


def test_a_free_port_is_ok() -> None:
    port = _free_port()
    use = ports.PortUse("worker", port, "MOODWATCH_WORKER_WEB_PORT", ports.web_health_speaks)
    finding = ports.check_port(use, timeout_s=0.5)
    assert (finding.status, finding.details["state"]) == (Status.OK, "free")


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"ok": False, "paused": True}).encode()
        self.send_response(503 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_port_held_by_a_paused_worker_is_ours() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = int(server.server_address[1])
        use = ports.PortUse("worker", port, "MOODWATCH_WORKER_WEB_PORT", ports.web_health_speaks)
        held = ports.check_port(use, timeout_s=2)
        assert held.details["state"] == "ours"
        assert held.status is Status.WARN  # its /health says it is not ok
        assert "paused" in held.summary
        # The same server on the dashboard's port is not Streamlit: busy.
        dashboard = ports.PortUse("dashboard", port, "MOODWATCH_DASHBOARD_PORT",
                                  ports.streamlit_speaks)
        assert ports.check_port(dashboard, timeout_s=2).details["state"] == "busy"
    finally:
        server.shutdown()
        server.server_close()


# --- Kafka topics -----------------------------------------------------------------------------


def test_missing_topics_are_named_with_their_role() -> None:
    finding = kafka.check_topics(settings(), {"news": 4, "chat": 4})
    assert finding.status is Status.FAIL
    assert "dead-letter (dead letters)" in finding.summary
    assert "model-updates (model updates)" in finding.summary
    assert "moodwatch worker" in finding.fix


def test_input_topics_with_fewer_partitions_than_configured_warn() -> None:
    names = ["news", "chat", "dead-letter", "labels", "alerts", "model-updates"]
    partitions = {name: 4 for name in names}
    assert kafka.check_topics(settings(), partitions).status is Status.OK
    partitions["chat"] = 1
    short = kafka.check_topics(settings(topic_partitions=4), partitions)
    assert short.status is Status.WARN
    assert "chat" in short.summary
    assert short.details["partitions"]["chat"] == 1


def test_local_kafka_is_the_configured_port_on_loopback() -> None:
    assert kafka.is_local_kafka(settings())
    assert not kafka.is_local_kafka(settings(kafka_bootstrap_servers="kafka:9092"))
    assert not kafka.is_local_kafka(settings(kafka_bootstrap_servers="127.0.0.1:19092"))


# --- registry and rules ---------------------------------------------------------------------


def _registry_with_one_version(root: Path) -> Registry:
    registry = Registry(root)
    with registry.stage() as staged:
        (staged / "weights.bin").write_bytes(b"\x00" * 64)
        version = registry.commit(staged, parent=None, metrics={}, training={})
    registry.promote(version.id)
    return registry


def test_registry_without_a_current_version_says_how_to_train(tmp_path: Path) -> None:
    finding = state.check_registry(settings(registry_path=tmp_path / "empty"))
    assert finding.status is Status.FAIL
    assert "moodwatch model train" in finding.fix


def test_registry_current_version_is_checksum_verified(tmp_path: Path) -> None:
    registry = _registry_with_one_version(tmp_path / "registry")
    good = state.check_registry(settings(registry_path=registry.root))
    assert (good.status, good.details["version"]) == (Status.OK, "v0001")
    (registry.root / "versions" / "v0001" / "weights.bin").write_bytes(b"\x01" * 64)
    corrupt = state.check_registry(settings(registry_path=registry.root))
    assert corrupt.status is Status.FAIL
    assert "weights.bin" in corrupt.summary
    assert "moodwatch model rollback" in corrupt.fix


def test_bundled_rules_parse() -> None:
    finding = state.check_rules(settings())
    assert finding.status is Status.OK
    assert finding.details["rules"]


def test_an_invalid_rule_file_is_named_with_its_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: broken\nwindow: forever\n")
    finding = state.check_rules(settings(alert_rules_path=tmp_path))
    assert finding.status is Status.FAIL
    assert "bad.yaml" in finding.summary
    assert f"moodwatch alerts rules check {tmp_path}" in finding.fix


class _RunsIndex:
    """Elasticsearch's search answer for the retrain-runs index (the one call LoopHistory makes)."""

    def __init__(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs

    def search(self, **_: Any) -> Any:
        hits = [{"_source": run} for run in self.runs]
        return type("Answer", (), {"body": {"hits": {"hits": hits}}})()


def _run(outcome: str, started: datetime, reason: str = "") -> dict[str, Any]:
    return {"run_id": "r1", "started_at": started.isoformat(), "outcome": outcome,
            "reason": reason}


def test_scheduler_last_run_outcomes() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    config = settings(retrain_lock_ttl_s=900)

    def judge(*runs: dict[str, Any]) -> Status:
        finding = state.check_scheduler(config, _RunsIndex(list(runs)), now=now)  # type: ignore[arg-type]
        return finding.status

    assert judge() is Status.OK
    assert judge(_run("promoted", now - timedelta(hours=1))) is Status.OK
    assert judge(_run("failed", now - timedelta(hours=1), "out of memory")) is Status.WARN
    assert judge(_run("running", now - timedelta(minutes=5))) is Status.OK
    assert judge(_run("running", now - timedelta(hours=2))) is Status.WARN


# --- the report -------------------------------------------------------------------------------


def test_exit_code_tells_unreachable_from_fixable() -> None:
    assert Report([ok("a", "fine"), warn("b", "meh", "do x")]).exit_code == 0
    assert Report([fail("a", "bad", "fix it")]).exit_code == EXIT_ERROR
    both = Report([fail("a", "bad", "fix"), fail("kafka", "down", "start", unreachable=True)])
    assert both.exit_code == EXIT_UNAVAILABLE
    assert both.as_json()["ok"] is False
    text = "\n".join(both.lines())
    assert "fix: start" in text
    assert "2 problem(s)" in text


def test_a_crashing_check_becomes_a_failed_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    from moodwatch.doctor import checkup

    def broken() -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(checkup, "checks", lambda settings, timeout_s: [broken])
    report = checkup.run_checkup(settings(), timeout_s=0.1)
    (finding,) = report.findings
    assert finding.status is Status.FAIL
    assert "RuntimeError: boom" in finding.summary
    assert report.exit_code == EXIT_ERROR


def test_doctor_imports_neither_torch_nor_faust() -> None:
    # doctor must answer in seconds: importing the model stack alone would take longer.
    code = "import sys, moodwatch.doctor; print(sorted({'torch', 'faust'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]"
