"""A minimal Faust worker consumes from and produces to the real broker."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from moodwatch.settings import Settings
from stream.connections import kafka_options


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_faust_worker_round_trip(
    services: Settings,
    create_topic,
    unique,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    source = await create_topic(unique("echo-in"))
    sink = await create_topic(unique("echo-out"))
    env = {
        **os.environ,
        "ECHO_BROKER": "kafka://" + services.bootstrap_servers[0],
        "ECHO_SOURCE": source,
        "ECHO_SINK": sink,
        "ECHO_GROUP": unique("echo"),
        "ECHO_DATADIR": str(tmp_path),
        "ECHO_WEB_PORT": str(_free_port()),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "faust",
            "-A",
            "tests.integration.apps.echo_app",
            "worker",
            "-l",
            "warn",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    consumer = AIOKafkaConsumer(sink, **kafka_options(services), auto_offset_reset="earliest")
    producer = AIOKafkaProducer(**kafka_options(services))
    await consumer.start()
    await producer.start()
    try:
        words = [f"hello {i}".encode() for i in range(20)]
        for word in words:
            await producer.send_and_wait(source, word)
        seen: list[bytes] = []
        async with asyncio.timeout(90):  # a cold worker joins its group, then catches up
            while len(seen) < len(words):
                assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else ""
                batch = await consumer.getmany(timeout_ms=500)
                seen += [r.value for records in batch.values() for r in records]
        assert sorted(seen) == sorted(w.upper() for w in words)
    finally:
        await producer.stop()
        await consumer.stop()
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
