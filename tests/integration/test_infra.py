"""infra/ against the real Kafka and Elasticsearch it runs.

The session's services (``services`` fixture) are the ones under test; tests that need a broken
set-up (stale pid file, busy port) use a throwaway infra_home and ports, so they never touch the
running services.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import probes
from infra.config import plan
from infra.pidfile import write_pid
from infra.services import (
    ServiceStatus,
    all_healthy,
    down,
    start_service,
    status,
    stop_service,
    up,
)
from moodwatch.errors import InfraError
from moodwatch.settings import Settings, load_settings

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@pytest.fixture
def scratch(tmp_path: Path) -> Settings:
    """Settings for a second, never-started set of services: own home, own free ports."""
    return load_settings(
        infra_home=tmp_path / "infra",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        es_port=free_port(),
        es_transport_port=free_port(),
    )


@pytest.fixture
def listener() -> Iterator[int]:
    """A port held by a plain socket that is neither Kafka nor ours."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield int(sock.getsockname()[1])


def by_name(statuses: list[ServiceStatus]) -> dict[str, ServiceStatus]:
    return {entry.name: entry for entry in statuses}


def test_status_reports_both_services_healthy_with_their_pids(services: Settings) -> None:
    statuses = status(services)
    current = by_name(statuses)

    assert set(current) == {"kafka", "elasticsearch"}
    for entry in statuses:
        assert entry.running, entry
        assert entry.healthy, entry
        assert entry.pid is not None
        assert entry.rss_bytes is not None
        assert entry.rss_bytes > 50 * 2**20  # a JVM, not a stand-in
        assert entry.log_path.is_file()
    assert current["kafka"].version == "3.9.1"
    assert current["elasticsearch"].version == "8.14.3"
    assert current["kafka"].port == services.kafka_port
    assert current["elasticsearch"].port == services.es_port
    assert all_healthy(statuses)


def test_up_twice_leaves_running_services_alone(services: Settings) -> None:
    before = by_name(status(services))

    after = by_name(up(services))

    # Same pids: nothing was restarted (a wall-clock bound would only measure the machine).
    assert {name: s.pid for name, s in after.items()} == {n: s.pid for n, s in before.items()}
    assert all(s.healthy for s in after.values())


def test_elasticsearch_can_be_stopped_and_started_again(services: Settings) -> None:
    kafka_pid = by_name(status(services))["kafka"].pid

    stopped = stop_service("elasticsearch", services)
    assert not stopped.running
    assert not stopped.healthy
    assert probes.port_is_free(services.es_port)

    started = start_service("elasticsearch", services)
    assert started.running
    assert started.healthy
    # The other service was not touched.
    assert by_name(status(services))["kafka"].pid == kafka_pid


def test_up_restarts_only_the_service_that_is_missing(services: Settings) -> None:
    es_pid = by_name(status(services))["elasticsearch"].pid
    stop_service("kafka", services)

    after = by_name(up(services))

    assert after["kafka"].healthy
    assert after["elasticsearch"].pid == es_pid


def test_a_stale_pid_file_is_ignored_and_never_signalled(scratch: Settings) -> None:
    kafka = plan(scratch, "kafka")
    finished = subprocess.Popen(["true"])
    finished.wait()
    write_pid(kafka.pid_file, finished.pid)  # a process that no longer exists
    es = plan(scratch, "elasticsearch")
    write_pid(es.pid_file, os.getpid())  # a live process that is not Elasticsearch: us

    statuses = by_name(status(scratch))
    assert statuses["kafka"].pid is None
    assert not statuses["kafka"].running
    assert statuses["elasticsearch"].pid is None

    down(scratch)  # must not signal this pytest process

    assert not kafka.pid_file.exists()
    assert not es.pid_file.exists()


def test_a_busy_kafka_port_is_named_with_the_variable_that_moves_it(
    tmp_path: Path, listener: int
) -> None:
    settings = load_settings(
        infra_home=tmp_path / "infra",
        kafka_port=listener,
        kafka_controller_port=free_port(),
        es_port=free_port(),
        es_transport_port=free_port(),
    )
    write_pid(plan(settings, "kafka").pid_file, os.getpid())  # stale: must not count as "ours"

    with pytest.raises(InfraError) as raised:
        up(settings)

    message = str(raised.value)
    assert f"port {listener}" in message
    assert "MOODWATCH_KAFKA_PORT" in message
    assert "MOODWATCH_KAFKA_BOOTSTRAP_SERVERS" in message
    # Nothing was started for the services whose ports were free.
    assert not any(entry.running for entry in status(settings))


def test_a_busy_elasticsearch_port_starts_nothing(tmp_path: Path, listener: int) -> None:
    settings = load_settings(
        infra_home=tmp_path / "infra",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        es_port=free_port(),
        es_transport_port=listener,
    )

    with pytest.raises(InfraError, match=f"port {listener}.*MOODWATCH_ES_TRANSPORT_PORT"):
        up(settings)

    assert not any(entry.running for entry in status(settings))
    assert probes.port_is_free(settings.kafka_port)
