"""What each local service is: version, ports, folders, configuration files and command line.

Everything here is a pure function of the settings (no process is started, no file written),
so the unit tests check the rendered configuration without a JVM.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from moodwatch.settings import Settings

# Must match the versions in infra/kafka/pom.xml and infra/elasticsearch/pom.xml (a unit test
# checks that they do).
KAFKA_VERSION = "3.9.1"
ELASTICSEARCH_VERSION = "8.14.3"

ServiceName = Literal["kafka", "elasticsearch"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("kafka", "elasticsearch")

# The folder holding the poms, the launcher sources and the logging configurations.
SOURCES = Path(__file__).resolve().parent

# Put on every command line we start: together with the service's own configuration path it
# tells `down` that a pid still belongs to us and was not recycled by another program.
OWNER_FLAG = "-Dmoodwatch.infra="

KAFKA_MAIN = "kafka.Kafka"
KAFKA_STORAGE_TOOL = "kafka.tools.StorageTool"
ELASTICSEARCH_MAIN = "org.elasticsearch.node.LocalNode"


@dataclass(frozen=True)
class ServicePlan:
    """Where one service lives on disk and how it is started."""

    name: ServiceName
    version: str
    port: int
    # Every port the service binds, with the variable that moves it (for the "port busy" error).
    ports: dict[str, int]
    heap: str
    home: Path
    data_dir: Path
    log_file: Path
    pid_file: Path
    config_file: Path

    def owns(self, cmdline: list[str]) -> bool:
        """Whether a process command line is this service as started by infra/."""
        return f"{OWNER_FLAG}{self.name}" in cmdline and str(self.config_file) in cmdline


@dataclass(frozen=True)
class JarFolders:
    """Where the fetched jars of each service live, under ``<infra_home>/jars``."""

    root: Path

    @property
    def kafka(self) -> Path:
        return self.root / "kafka"

    @property
    def elasticsearch(self) -> Path:
        return self.root / "elasticsearch"

    @property
    def launcher(self) -> Path:
        """Compiled classes of our Elasticsearch launcher."""
        return self.root / "elasticsearch-launcher"


def infra_home(settings: Settings) -> Path:
    # Absolute, because the JVMs run in their own folders and ownership checks compare paths.
    return settings.infra_home.expanduser().resolve()


def jar_folders(settings: Settings) -> JarFolders:
    return JarFolders(infra_home(settings) / "jars")


def plan(settings: Settings, name: ServiceName) -> ServicePlan:
    home = infra_home(settings) / name
    if name == "kafka":
        return ServicePlan(
            name="kafka",
            version=KAFKA_VERSION,
            port=settings.kafka_port,
            ports={
                "MOODWATCH_KAFKA_PORT": settings.kafka_port,
                "MOODWATCH_KAFKA_CONTROLLER_PORT": settings.kafka_controller_port,
            },
            heap=settings.kafka_heap,
            home=home,
            data_dir=home / "data",
            log_file=home / "logs" / "kafka.log",
            pid_file=home / "kafka.pid",
            config_file=home / "config" / "server.properties",
        )
    return ServicePlan(
        name="elasticsearch",
        version=ELASTICSEARCH_VERSION,
        port=settings.es_port,
        ports={
            "MOODWATCH_ES_PORT": settings.es_port,
            "MOODWATCH_ES_TRANSPORT_PORT": settings.es_transport_port,
        },
        heap=settings.es_heap,
        home=home,
        data_dir=home / "data",
        log_file=home / "logs" / "elasticsearch.log",
        pid_file=home / "elasticsearch.pid",
        config_file=home / "config" / "elasticsearch.yml",
    )


# --- Kafka -----------------------------------------------------------------------------------


def kafka_properties(settings: Settings, data_dir: Path) -> dict[str, str]:
    """server.properties of a one-node KRaft cluster on loopback, tuned for tests on 2 cores."""
    port, controller = settings.kafka_port, settings.kafka_controller_port
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        # One node: every replication factor and in-sync minimum is 1.
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        # One partition for the internal topics: creating 50 of them costs seconds at start-up.
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.num.partitions": "1",
        # Consumers join a group at once instead of waiting 3 s for more members.
        "group.initial.rebalance.delay.ms": "0",
        # Two cores: the defaults (3 network, 8 io threads) only add contention.
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "num.partitions": "1",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
    }


def render_properties(values: dict[str, str], header: str) -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for key, value in values.items():
        # Backslashes are escapes in .properties files; nothing else we write needs quoting.
        lines.append(f"{key}={value.replace(chr(92), chr(92) * 2)}")
    return "\n".join(lines) + "\n"


def new_cluster_id() -> str:
    """A KRaft cluster id as `StorageTool random-uuid` prints it: 16 random bytes, base64url.

    Kafka's own generator skips ids starting with "-" (they read as command-line options).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def kafka_command(java: str, settings: Settings, jars: Path) -> list[str]:
    service = plan(settings, "kafka")
    return [
        java,
        *_heap_flags(service.heap),
        # The G1 settings of Kafka's own start script: short pauses matter more than throughput.
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{SOURCES / 'kafka' / 'log4j.properties'}",
        f"{OWNER_FLAG}kafka",
        "-cp",
        f"{jars}/*",
        KAFKA_MAIN,
        str(service.config_file),
    ]


def kafka_format_command(java: str, settings: Settings, jars: Path, cluster_id: str) -> list[str]:
    service = plan(settings, "kafka")
    return [
        java,
        "-Xmx256m",
        f"-Dlog4j.configuration=file:{SOURCES / 'kafka' / 'log4j.properties'}",
        "-cp",
        f"{jars}/*",
        KAFKA_STORAGE_TOOL,
        "format",
        "--ignore-formatted",
        "-t",
        cluster_id,
        "-c",
        str(service.config_file),
    ]


# --- Elasticsearch ---------------------------------------------------------------------------


def elasticsearch_settings(settings: Settings, home: Path) -> dict[str, str]:
    """elasticsearch.yml of a one-node cluster on loopback.

    Only keys the bare server knows: an unknown key (any ``xpack.*``) aborts start-up.
    """
    return {
        "cluster.name": "moodwatch-local",
        "node.name": "local",
        "path.home": str(home),
        "path.data": str(home / "data"),
        "path.logs": str(home / "logs"),
        "network.host": "127.0.0.1",
        # Single ports, not ranges: a busy port must fail loudly rather than move to 9201.
        "http.port": str(settings.es_port),
        "transport.port": str(settings.es_transport_port),
        "discovery.type": "single-node",
        # A laptop disk that is 90 % full would otherwise turn every index read-only.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        # With a small heap the real-memory breaker rejects bulk requests under GC pressure.
        "indices.breaker.total.use_real_memory": "false",
    }


def render_yaml(values: dict[str, str], header: str) -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    # JSON strings are valid YAML scalars, so json.dumps quotes paths and values safely.
    lines.extend(f"{key}: {json.dumps(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"


def elasticsearch_command(java: str, settings: Settings, jars: Path, launcher: Path) -> list[str]:
    service = plan(settings, "elasticsearch")
    heap = heap_bytes(service.heap)
    return [
        java,
        *_heap_flags(service.heap),
        "-XX:+UseG1GC",
        # Netty's buffers live off-heap; Elasticsearch's own launcher caps them at half the heap.
        f"-XX:MaxDirectMemorySize={heap // 2}",
        f"-Djava.io.tmpdir={service.home / 'tmp'}",
        "-Dfile.encoding=UTF-8",
        "-Djava.awt.headless=true",
        # From the distribution's jvm.options: no JNDI lookups in log messages; let the node's
        # shutdown hook log its own closing instead of log4j shutting down first.
        "-Dlog4j2.formatMsgNoLookups=true",
        "-Dlog4j.shutdownHookEnabled=false",
        "-Dlog4j2.disable.jmx=true",
        "-Dio.netty.noUnsafe=true",
        "-Dio.netty.noKeySetOptimization=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0",
        "-XX:-OmitStackTraceInFastThrow",
        f"{OWNER_FLAG}elasticsearch",
        "-cp",
        f"{launcher}:{jars}/*",
        ELASTICSEARCH_MAIN,
        str(service.config_file),
    ]


# --- JVM ---------------------------------------------------------------------------------------

_HEAP = re.compile(r"^(\d+)([mMgG])$")


def heap_bytes(heap: str) -> int:
    """``"512m"`` → 536870912. The settings already validated the shape."""
    match = _HEAP.match(heap)
    if match is None:
        raise ValueError(f"heap size {heap!r} is not like 512m or 1g")
    number, unit = int(match.group(1)), match.group(2).lower()
    return number * (1024**2 if unit == "m" else 1024**3)


def _heap_flags(heap: str) -> list[str]:
    # Equal minimum and maximum: the heap is claimed once at start, never resized under load.
    return [f"-Xms{heap}", f"-Xmx{heap}"]
