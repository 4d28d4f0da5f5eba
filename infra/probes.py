"""Is a service answering? Stdlib-only checks that speak each service's own protocol.

Kafka: a Metadata request (API key 3, version 1) over a raw socket. A broker answers it only
once its request handlers run, and lists itself only once it has joined the KRaft metadata, so
"the answer names a broker" means producers and consumers can work. Elasticsearch:
``GET /_cluster/health?wait_for_status=yellow`` (the bare node has no ``GET /``).
"""

from __future__ import annotations

import errno
import json
import socket
import struct
import urllib.request
from dataclasses import dataclass

HOST = "127.0.0.1"

_METADATA_API_KEY = 3
_METADATA_VERSION = 1
_CLIENT_ID = b"moodwatch-infra-probe"


class ProbeError(Exception):
    """A reply that does not follow the protocol (internal: callers see False or InfraError)."""


@dataclass(frozen=True)
class Broker:
    node_id: int
    host: str
    port: int


def encode_metadata_request(correlation_id: int) -> bytes:
    """A size-prefixed Metadata v1 request asking for no topics (we want the brokers only)."""
    body = struct.pack(
        ">hhih", _METADATA_API_KEY, _METADATA_VERSION, correlation_id, len(_CLIENT_ID)
    )
    body += _CLIENT_ID + struct.pack(">i", 0)  # topics: empty array, not null (= all topics)
    return struct.pack(">i", len(body)) + body


def decode_metadata_brokers(payload: bytes, correlation_id: int) -> list[Broker]:
    """The brokers in a Metadata v1 response body (the bytes after the size prefix)."""
    try:
        (answered,) = struct.unpack_from(">i", payload, 0)
        if answered != correlation_id:
            raise ProbeError(f"reply to request {answered}, expected {correlation_id}")
        (count,) = struct.unpack_from(">i", payload, 4)
        offset, brokers = 8, []
        for _ in range(max(count, 0)):
            node_id, host_len = struct.unpack_from(">ih", payload, offset)
            offset += 6
            host = payload[offset : offset + host_len].decode("utf-8")
            offset += host_len
            (port, rack_len) = struct.unpack_from(">ih", payload, offset)
            offset += 6 + max(rack_len, 0)  # rack: nullable string, -1 when unset
            brokers.append(Broker(node_id, host, port))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProbeError(f"malformed Metadata response: {exc}") from exc
    return brokers


def kafka_brokers(port: int, timeout_s: float = 2.0) -> list[Broker]:
    """Ask the broker on ``127.0.0.1:port`` for cluster metadata. Raises OSError or ProbeError."""
    correlation_id = 7
    with socket.create_connection((HOST, port), timeout=timeout_s) as conn:
        conn.sendall(encode_metadata_request(correlation_id))
        (size,) = struct.unpack(">i", _read_exactly(conn, 4))
        if not 0 < size < 1_000_000:
            raise ProbeError(f"implausible response size {size}: is this port Kafka?")
        return decode_metadata_brokers(_read_exactly(conn, size), correlation_id)


def kafka_ready(port: int, timeout_s: float = 2.0) -> bool:
    try:
        return any(broker.port == port for broker in kafka_brokers(port, timeout_s))
    except (OSError, ProbeError):
        return False


def elasticsearch_status(port: int, timeout_s: float = 2.0) -> str | None:
    """Cluster health colour once it is at least yellow; None when not answering or red."""
    wait = max(1, int(timeout_s / 2))
    url = f"http://{HOST}:{port}/_cluster/health?wait_for_status=yellow&timeout={wait}s"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        # Refused, timed out, or 408 (still red after the wait): HTTPError is an OSError too.
        return None
    status = body.get("status") if isinstance(body, dict) else None
    return status if status in ("yellow", "green") else None


def elasticsearch_ready(port: int, timeout_s: float = 2.0) -> bool:
    return elasticsearch_status(port, timeout_s) is not None


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``127.0.0.1:port`` now.

    SO_REUSEADDR as the JVM servers set it: connections in TIME_WAIT from a previous run do not
    block a new listener, only another listener does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = conn.recv(min(remaining, 65536))
        if not chunk:
            raise ProbeError("connection closed mid-reply")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
