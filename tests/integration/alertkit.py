"""Shared pieces of the alert integration tests: a unique-prefix history and its cleanup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from alerts.backtest import tick_at_or_before
from bench.seed_messages import index_documents
from stream.index_layout import IndexLayout
from tests.integration.streamkit import WorkerProcess, free_port, wait_for


def aligned(moment: datetime, every: timedelta) -> datetime:
    return tick_at_or_before(moment, every)


def seed(es: Elasticsearch, prefix: str, documents: Iterable[dict[str, Any]]) -> int:
    """Index scored documents into ``<prefix>-messages`` through the real template."""
    return index_documents(es, IndexLayout(prefix), documents, chunk_size=2000, threads=1)


@contextmanager
def cleaned(es: Elasticsearch, prefix: str) -> Iterator[str]:
    """Yield ``prefix``; delete its indices and template afterwards."""
    try:
        yield prefix
    finally:
        for name in es.indices.get(index=f"{prefix}-*", ignore_unavailable=True):
            es.indices.delete(index=name)
        es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-messages")


# --- alerter processes -----------------------------------------------------------------------


@dataclass
class AlerterProcess(WorkerProcess):
    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health", timeout=2) as r:
                return dict(json.loads(r.read()))
        except OSError:
            return {}

    def leader(self) -> bool:
        return bool(self.health().get("leader"))


def start_alerter(name: str, env: dict[str, str], workdir: Path) -> AlerterProcess:
    port = free_port()
    log = workdir / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "moodwatch", "alerter", "--web-port", str(port)],
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    alerter = AlerterProcess(name, process, port, log)
    wait_for(lambda: alerter.healthy() or not alerter.alive(), 60, f"{name} to start")
    assert alerter.alive(), f"{name} died on start:\n{alerter.tail()}"
    return alerter


@dataclass
class WebhookReceiver:
    """A local Slack-like webhook: fails the first ``failures`` posts with 500, records the rest."""

    failures: int = 0
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    attempts: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.attempts <= receiver.failures:
                    self.send_response(500)
                else:
                    receiver.received.append((time.time(), json.loads(body)))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def notices(self, kind: str) -> list[dict[str, Any]]:
        return [body for _, body in self.received if body["moodwatch"]["notice"] == kind]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
