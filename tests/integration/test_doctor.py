"""moodwatch doctor against the real services, a stopped Elasticsearch and a busy Kafka port.

The shared services are never stopped: a stopped Elasticsearch is what a client sees on a port
nobody listens on, and a busy Kafka port is a socket that accepts connections and never speaks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from moodwatch.doctor import Status, run_checkup
from moodwatch.errors import EXIT_UNAVAILABLE
from moodwatch.settings import load_settings
from tests.integration.streamkit import StreamRig, free_port


@pytest.fixture
def doctor_env(rig: StreamRig) -> dict[str, str]:
    """The rig's unique topics (created, 4 partitions each), index prefix and tiny model, with
    the web ports moved to free ones so other processes on this machine cannot interfere."""
    return {
        **rig.env,
        "MOODWATCH_TOPIC_PARTITIONS": "4",
        "MOODWATCH_DASHBOARD_PORT": str(free_port()),
        "MOODWATCH_WORKER_WEB_PORT": str(free_port()),
        "MOODWATCH_ALERTER_WEB_PORT": str(free_port()),
    }


def by_check(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["check"]: check for check in report["checks"]}


def test_doctor_passes_on_the_running_services(
    doctor_env: dict[str, str], tiny_registry: Any
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "moodwatch", "doctor", "--json"],
        env={**os.environ, **doctor_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stdout)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed == [], done.stdout
    assert done.returncode == 0, done.stderr
    checks = by_check(report)
    assert checks["kafka"]["status"] == "ok"
    assert checks["topics"]["details"]["partitions"] == {
        doctor_env[f"MOODWATCH_TOPIC_{role}"]: 4
        for role in ("NEWS", "CHAT", "DEAD_LETTER", "LABELS", "ALERTS", "MODEL_UPDATES")
    }
    assert checks["elasticsearch"]["details"]["versions"][0].startswith("8.")
    assert checks["model"]["details"]["version"] == tiny_registry.current_id()
    assert checks["rules"]["details"]["rules"]
    assert checks["scheduler"]["status"] == "ok"
    assert checks[f"port {doctor_env['MOODWATCH_WORKER_WEB_PORT']}"]["details"]["state"] == "free"


def test_stopped_elasticsearch_fails_with_advice(
    doctor_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nothing listens here: a stopped node, as a client sees it
    for key, value in {**doctor_env, "MOODWATCH_ES_PORT": str(port),
                       "MOODWATCH_ES_HOSTS": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(key, value)
    report = run_checkup(load_settings(), timeout_s=1.0)
    checks = {f.check: f for f in report.findings}
    es = checks["elasticsearch"]
    assert es.status is Status.FAIL
    assert f"127.0.0.1:{port}" in es.summary
    assert "moodwatch infra up" in es.fix
    assert "scheduler" not in checks  # its history lives in the unreachable cluster
    assert checks["kafka"].status is Status.OK
    assert report.exit_code == EXIT_UNAVAILABLE


@pytest.fixture
def silent_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_busy_kafka_port_is_reported_as_something_else_with_advice(
    doctor_env: dict[str, str], silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {**doctor_env, "MOODWATCH_KAFKA_PORT": str(silent_port),
                       "MOODWATCH_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{silent_port}"}.items():
        monkeypatch.setenv(key, value)
    started = time.monotonic()
    report = run_checkup(load_settings(), timeout_s=1.0)
    elapsed = time.monotonic() - started
    checks = {f.check: f for f in report.findings}
    port = checks[f"port {silent_port}"]
    assert port.status is Status.FAIL
    assert port.details["state"] == "busy"
    assert port.details["holder"].startswith(f"pid {os.getpid()} ")
    assert "MOODWATCH_KAFKA_PORT=" in port.fix
    assert checks["kafka"].status is Status.FAIL
    assert "does not answer as Kafka" in checks["kafka"].fix
    assert checks["elasticsearch"].status is Status.OK
    assert report.exit_code == EXIT_UNAVAILABLE
    # A silent peer must not hold doctor for the clients' default 30-40 s request timeouts.
    assert elapsed < 25, f"doctor took {elapsed:.1f} s against a silent port"
