"""Running real workers against real Kafka + Elasticsearch in a test, and checking the result.

A ``StreamRig`` owns one test's unique topics, index prefix and consumer group, starts
``moodwatch worker`` processes on them, produces messages and reads back what got indexed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from elasticsearch import Elasticsearch
from elasticsearch.helpers import scan

from moodwatch.settings import Settings
from stream.connections import kafka_options


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.5) -> None:
    """Poll ``condition`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    web_port: int
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def health(self) -> dict[str, Any]:
        """The worker's /health answer, whatever its status code."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health", timeout=2) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health", timeout=2) as r:
                return bool(json.loads(r.read())["ok"])
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


@dataclass
class StreamRig:
    settings: Settings
    env: dict[str, str]
    es: Elasticsearch
    workdir: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def alias(self) -> str:
        return f"{self.env['MOODWATCH_ES_INDEX_PREFIX']}-messages"

    def topic(self, channel: str) -> str:
        return self.env[f"MOODWATCH_TOPIC_{channel.upper()}"]

    def start_worker(
        self, name: str, command: list[str] | None = None, env: dict[str, str] | None = None
    ) -> WorkerProcess:
        """Start ``moodwatch worker`` (or ``command``, given its web port as last argument)."""
        port = free_port()
        log = self.workdir / f"{name}.log"
        argv = command or [sys.executable, "-m", "moodwatch", "worker", "--web-port"]
        process = subprocess.Popen(
            [*argv, str(port)],
            env={**os.environ, **self.env, **(env or {})},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        worker = WorkerProcess(name, process, port, log)
        self.workers.append(worker)
        wait_for(lambda: worker.healthy() or not worker.alive(), 180, f"{name} to start")
        assert worker.alive(), f"{name} died on start:\n{worker.tail()}"
        return worker

    def produce(self, records: Iterable[tuple[str, bytes]]) -> int:
        """Send (channel, value) pairs; returns how many were acknowledged by the broker."""

        async def send() -> int:
            producer = AIOKafkaProducer(**kafka_options(self.settings), acks="all", linger_ms=10)
            await producer.start()
            try:
                futures = [await producer.send(self.topic(ch), value) for ch, value in records]
                await producer.flush()
                acked = 0
                for delivery in futures:
                    if await delivery is not None:
                        acked += 1
                return acked
            finally:
                await producer.stop()

        return asyncio.run(send())

    def count(self) -> int:
        if not self.es.indices.exists_alias(name=self.alias):
            return 0
        self.es.indices.refresh(index=self.alias)
        return int(self.es.count(index=self.alias)["count"])

    def documents(self) -> list[dict[str, Any]]:
        self.es.indices.refresh(index=self.alias)
        return [
            hit["_source"] | {"_id": hit["_id"]}
            for hit in scan(self.es, index=self.alias, size=2000)
        ]

    def dead_letters(self, expected: int, timeout: float = 120) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:
            consumer = AIOKafkaConsumer(
                self.env["MOODWATCH_TOPIC_DEAD_LETTER"],
                **kafka_options(self.settings),
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            await consumer.start()
            out: list[dict[str, Any]] = []
            try:
                async with asyncio.timeout(timeout):
                    while len(out) < expected:
                        batch = await consumer.getmany(timeout_ms=1000)
                        out += [json.loads(r.value) for rs in batch.values() for r in rs]
                # anything beyond the expected count would be a bug: look once more
                batch = await consumer.getmany(timeout_ms=2000)
                out += [json.loads(r.value) for rs in batch.values() for r in rs]
            finally:
                await consumer.stop()
            return out

        return asyncio.run(read())

    def wait_indexed(self, expected: int, timeout: float) -> None:
        def done() -> bool:
            for worker in self.workers:
                if worker.process.returncode not in (None, -9) and not worker.alive():
                    raise AssertionError(f"{worker.name} exited:\n{worker.tail()}")
            return self.count() >= expected

        wait_for(
            done, timeout, f"{expected} documents in {self.alias} (have {self.count()})", every=1.0
        )

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for name in self.es.indices.get(index=f"{self.env['MOODWATCH_ES_INDEX_PREFIX']}-*"):
            self.es.indices.delete(index=name)
        self.es.options(ignore_status=404).indices.delete_index_template(name=self.alias)


@contextmanager
def frozen(settings: Settings, *names: str) -> Iterator[None]:
    """Freeze local services (SIGSTOP): connections hang, as with a dead host or a network cut.

    They are thawed (SIGCONT) on the way out, whatever happens inside.
    """
    from infra.services import status

    pids = [s.pid for s in status(settings) if s.name in names and s.pid]
    assert len(pids) == len(names), f"not all of {names} are running under infra/"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
