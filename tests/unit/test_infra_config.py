"""infra/ without services: rendered configuration, commands, pid files, probes' wire format."""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from infra import config, jars, pidfile, probes, render
from infra.config import (
    ELASTICSEARCH_VERSION,
    KAFKA_VERSION,
    elasticsearch_command,
    elasticsearch_settings,
    kafka_command,
    kafka_properties,
    plan,
    render_properties,
    render_yaml,
)
from infra.services import ServiceStatus
from moodwatch.settings import Settings, load_settings


@pytest.fixture
def settings(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    return load_settings(
        infra_home=tmp_path / "infra",
        kafka_port=19092,
        kafka_controller_port=19093,
        es_port=19200,
        es_transport_port=19300,
    )


def parse_properties(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return {key: value.replace("\\\\", "\\") for key, value in pairs}


# --- Kafka configuration ---------------------------------------------------------------------


def test_kafka_properties_describe_one_node_on_the_configured_ports(settings: Settings) -> None:
    data = Path("/srv/kafka data")
    props = parse_properties(render_properties(kafka_properties(settings, data), "header"))

    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == str(data)
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "offsets.topic.num.partitions",
        "transaction.state.log.num.partitions",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["num.network.threads"] == props["num.io.threads"] == "2"
    assert props["auto.create.topics.enable"] == "true"


def test_properties_escape_backslashes_and_comment_the_header() -> None:
    text = render_properties({"log.dirs": r"C:\kafka\data"}, "first line\nsecond line")

    assert text.splitlines()[:2] == ["# first line", "# second line"]
    assert parse_properties(text) == {"log.dirs": r"C:\kafka\data"}


# --- Elasticsearch configuration -------------------------------------------------------------


def test_elasticsearch_yaml_is_single_node_on_loopback_without_xpack(settings: Settings) -> None:
    home = Path("/srv/es home: with 'quotes'")
    values = elasticsearch_settings(settings, home)
    loaded = yaml.safe_load(render_yaml(values, "header"))

    assert loaded == values  # quoting survives spaces, colons and quotes in paths
    assert loaded["discovery.type"] == "single-node"
    assert loaded["network.host"] == "127.0.0.1"
    assert (loaded["http.port"], loaded["transport.port"]) == ("19200", "19300")
    assert loaded["path.data"] == str(home / "data")
    assert loaded["cluster.routing.allocation.disk.threshold_enabled"] == "false"
    assert loaded["indices.breaker.total.use_real_memory"] == "false"
    # An unknown key aborts the bare node's start-up, and x-pack is not on the classpath.
    assert not [key for key in loaded if key.startswith("xpack")]


# --- versions, commands, ownership -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pom", "artifact", "version"),
    [
        ("kafka/pom.xml", "kafka_2.13", KAFKA_VERSION),
        ("elasticsearch/pom.xml", "elasticsearch", ELASTICSEARCH_VERSION),
        ("elasticsearch/pom.xml", "transport-netty4", ELASTICSEARCH_VERSION),
    ],
)
def test_versions_shown_by_status_are_the_ones_the_poms_fetch(
    pom: str, artifact: str, version: str
) -> None:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(config.SOURCES / pom).getroot()
    properties = {
        child.tag.split("}")[1]: child.text for child in root.iterfind("m:properties/*", ns)
    }
    declared = {
        dep.findtext("m:artifactId", namespaces=ns): dep.findtext("m:version", namespaces=ns)
        for dep in root.iterfind("m:dependencies/m:dependency", ns)
    }
    found = declared[artifact] or ""
    if found.startswith("${"):
        found = properties[found[2:-1]] or ""
    assert found == version


def test_each_command_is_recognised_as_its_own_service_only(settings: Settings) -> None:
    kafka, es = plan(settings, "kafka"), plan(settings, "elasticsearch")
    kafka_cmd = kafka_command("java", settings, Path("/jars/kafka"))
    es_cmd = elasticsearch_command("java", settings, Path("/jars/es"), Path("/jars/launcher"))

    assert kafka.owns(kafka_cmd)
    assert not kafka.owns(es_cmd)
    assert es.owns(es_cmd)
    assert not es.owns(kafka_cmd)
    # Same service, another infra_home: not ours (two checkouts must not stop each other's).
    other = load_settings(infra_home=settings.infra_home / "elsewhere")
    assert not plan(other, "kafka").owns(kafka_cmd)


def test_jvm_flags_follow_the_heap_setting(settings: Settings) -> None:
    small = load_settings(infra_home=settings.infra_home, kafka_heap="256m", es_heap="2g")
    kafka_cmd = kafka_command("java", small, Path("/j"))
    es_cmd = elasticsearch_command("java", small, Path("/j"), Path("/l"))

    assert {"-Xms256m", "-Xmx256m", "-XX:MaxGCPauseMillis=20"} <= set(kafka_cmd)
    assert {"-Xms2g", "-Xmx2g", f"-XX:MaxDirectMemorySize={2**30}"} <= set(es_cmd)
    assert config.heap_bytes("512m") == 512 * 2**20
    with pytest.raises(ValueError, match="512m or 1g"):
        config.heap_bytes("lots")


def test_cluster_ids_look_like_kafka_uuids() -> None:
    for _ in range(200):
        cluster_id = config.new_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


# --- pid files -------------------------------------------------------------------------------


def test_unreadable_pid_files_mean_no_pid(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    assert pidfile.read_pid(path) is None
    for junk in ("", "abc", "-5", "0", "12 13"):
        path.write_text(junk)
        assert pidfile.read_pid(path) is None, junk
    pidfile.write_pid(path, 4242)
    assert pidfile.read_pid(path) == 4242


def test_a_pid_file_of_an_exited_process_is_stale_and_removed(settings: Settings) -> None:
    service = plan(settings, "kafka")
    finished = subprocess.Popen(["true"])
    finished.wait()  # reaped: the pid now names no process
    pidfile.write_pid(service.pid_file, finished.pid)

    assert pidfile.owned_pid(service, forget_stale=False) is None
    assert service.pid_file.exists()  # status-style reads leave the file alone
    assert pidfile.owned_pid(service) is None
    assert not service.pid_file.exists()


def test_a_recycled_pid_of_another_program_is_not_ours(settings: Settings) -> None:
    service = plan(settings, "kafka")
    pidfile.write_pid(service.pid_file, os.getpid())

    assert pidfile.owned_pid(service) is None  # this pytest process is alive, but not Kafka
    assert not service.pid_file.exists()


def test_a_live_process_with_our_command_line_is_ours(settings: Settings) -> None:
    service = plan(settings, "kafka")
    # A stand-in with the same marks on its command line as the real broker.
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-Dmoodwatch.infra=kafka",
         str(service.config_file)]
    )
    try:
        pidfile.write_pid(service.pid_file, stand_in.pid)
        # Until the child has exec'd, /proc shows the parent's command line: wait for the switch.
        deadline = time.monotonic() + 10
        while pidfile.owned_pid(service, forget_stale=False) != stand_in.pid:
            assert time.monotonic() < deadline, pidfile.cmdline(stand_in.pid)
            time.sleep(0.05)
        assert pidfile.owned_pid(service) == stand_in.pid
        assert pidfile.rss_bytes(stand_in.pid)
    finally:
        stand_in.kill()
        stand_in.wait()
    assert pidfile.owned_pid(service) is None


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen(["true"])  # exits at once; stays a zombie until we reap it
    try:
        deadline = time.monotonic() + 10
        while pidfile.is_alive(child.pid):
            assert time.monotonic() < deadline, "an exited (zombie) process still counts as alive"
            time.sleep(0.05)
    finally:
        child.wait()


# --- probes: Kafka wire format, ports --------------------------------------------------------


Broker = tuple[int, str, int, str | None]  # node id, host, port, rack


def metadata_response(correlation_id: int, brokers: list[Broker]) -> bytes:
    body = struct.pack(">ii", correlation_id, len(brokers))
    for node_id, host, port, rack in brokers:
        body += struct.pack(">ih", node_id, len(host)) + host.encode() + struct.pack(">i", port)
        rack_bytes = b"" if rack is None else rack.encode()
        body += struct.pack(">h", -1 if rack is None else len(rack_bytes)) + rack_bytes
    return body + struct.pack(">ii", 1, 0)  # controller id, no topics


def test_metadata_request_is_a_size_prefixed_v1_request_for_no_topics() -> None:
    request = probes.encode_metadata_request(correlation_id=7)
    (size,) = struct.unpack_from(">i", request)
    assert size == len(request) - 4
    api_key, version, correlation, client_len = struct.unpack_from(">hhih", request, 4)
    assert (api_key, version, correlation) == (3, 1, 7)
    assert struct.unpack_from(">i", request, 14 + client_len) == (0,)


def test_metadata_response_yields_its_brokers() -> None:
    payload = metadata_response(7, [(1, "127.0.0.1", 9092, None), (2, "kafka-2", 9094, "r1")])

    brokers = probes.decode_metadata_brokers(payload, correlation_id=7)

    assert brokers == [probes.Broker(1, "127.0.0.1", 9092), probes.Broker(2, "kafka-2", 9094)]
    with pytest.raises(probes.ProbeError, match="expected 8"):
        probes.decode_metadata_brokers(payload, correlation_id=8)
    with pytest.raises(probes.ProbeError, match="malformed"):
        probes.decode_metadata_brokers(payload[:15], correlation_id=7)


def test_a_listener_that_is_not_kafka_is_not_ready() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert not probes.port_is_free(port)
        # The probe connects and sends; nobody answers: it must give up within its timeout.
        started = time.monotonic()
        assert not probes.kafka_ready(port, timeout_s=0.5)
        assert time.monotonic() - started < 3
    assert probes.port_is_free(port)


def test_nothing_listening_means_not_ready() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    assert not probes.kafka_ready(port, timeout_s=0.5)
    assert probes.elasticsearch_status(port, timeout_s=0.5) is None


# --- jar cache -------------------------------------------------------------------------------


def test_a_jar_folder_is_filled_once_per_digest(tmp_path: Path) -> None:
    folder, fills = tmp_path / "jars" / "kafka", []

    def fill(dest: Path) -> None:
        fills.append(dest)
        (dest / "a.jar").write_bytes(b"jar")

    jars._ensure_folder(folder, "digest-1", fill)
    jars._ensure_folder(folder, "digest-1", fill)
    assert len(fills) == 1
    assert jars.is_complete(folder, "digest-1")
    assert (folder / "a.jar").exists()
    assert not folder.with_name("kafka.partial").exists()

    jars._ensure_folder(folder, "digest-2", fill)  # an edited pom refetches
    assert len(fills) == 2
    assert jars.is_complete(folder, "digest-2")


def test_an_interrupted_fill_leaves_no_complete_folder(tmp_path: Path) -> None:
    folder = tmp_path / "kafka"

    def broken(dest: Path) -> None:
        (dest / "half.jar").write_bytes(b"")
        raise RuntimeError("network gone")

    with pytest.raises(RuntimeError):
        jars._ensure_folder(folder, "d", broken)
    assert not folder.exists()
    assert not jars.is_complete(folder, "d")


# --- status table ----------------------------------------------------------------------------


def status(name: str, *, pid: int | None, healthy: bool) -> ServiceStatus:
    return ServiceStatus(
        name="kafka" if name == "kafka" else "elasticsearch",
        version="1.0",
        port=9092,
        pid=pid,
        running=pid is not None,
        healthy=healthy,
        heap="512m",
        rss_bytes=300 * 2**20 if pid else None,
        data_bytes=1536,
        log_path=Path("/repo/var/kafka/logs/kafka.log"),
    )


def test_status_table_shows_one_row_per_service_with_its_state() -> None:
    table = render.render(
        [
            status("kafka", pid=11, healthy=True),
            status("elasticsearch", pid=12, healthy=False),
            status("kafka", pid=None, healthy=False),
            status("kafka", pid=None, healthy=True),
        ],
        relative_to=Path("/repo"),
    ).splitlines()

    assert table[0].split() == list(render._COLUMNS)
    assert "healthy" in table[1]
    assert "300.0 MB" in table[1]
    assert "1.5 KB" in table[1]
    assert "starting" in table[2]
    assert "stopped" in table[3]
    assert " - " in table[3]
    assert "healthy (external)" in table[4]
    assert "var/kafka/logs/kafka.log" in table[1]
    assert "/repo/" not in table[1]
