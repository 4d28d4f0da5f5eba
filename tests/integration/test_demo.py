"""`moodwatch demo run` (what `make run` starts) on the real services, sped up: every process
comes up, the outage fires an alert that the dashboard shows and that later resolves, the
simulated labeller's labels make the scheduler retrain and the worker hot-swap, and Ctrl-C
stops everything the run started with every sent message indexed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from infra import pidfile
from models.registry import Registry
from tests.integration.browser import CHROMIUM, CHROMIUM_ARGS, settle, shoot
from tests.integration.streamkit import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


class Console:
    """The demo's terminal: its output lines, read as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        assert process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def saw(self, pattern: str) -> bool:
        return re.search(pattern, self.text()) is not None

    def wait(self, pattern: str, timeout: float, what: str) -> None:
        def seen() -> bool:
            if self.process.poll() is not None and not self.saw(pattern):
                raise AssertionError(f"the demo exited before {what}:\n{self.text()}")
            return self.saw(pattern)

        wait_for(seen, timeout, f"{what}; output so far:\n{self.text()}", every=1.0)


@pytest.fixture
def demo_env(services, unique, default_registry: Registry, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    # The default model, as `make run` serves it (the tiny one is too weak for the story's
    # alert); a copy, because the retrain promotes into it.
    registry = tmp_path / "registry"
    shutil.copytree(default_registry.root, registry)
    return {
        **os.environ,
        "MOODWATCH_TOPIC_NEWS": unique("news"),
        "MOODWATCH_TOPIC_CHAT": unique("chat"),
        "MOODWATCH_TOPIC_DEAD_LETTER": unique("dead-letter"),
        "MOODWATCH_TOPIC_LABELS": unique("labels"),
        "MOODWATCH_TOPIC_ALERTS": unique("alerts"),
        "MOODWATCH_TOPIC_MODEL_UPDATES": unique("model-updates"),
        "MOODWATCH_ES_INDEX_PREFIX": unique("mwdemo"),
        "MOODWATCH_WORKER_GROUP": unique("workers"),
        "MOODWATCH_REGISTRY_PATH": str(registry),
        "MOODWATCH_INFRA_HOME": str(tmp_path / "var"),
        "MOODWATCH_WORKER_WEB_PORT": str(free_port()),
        "MOODWATCH_ALERTER_WEB_PORT": str(free_port()),
        "MOODWATCH_DASHBOARD_PORT": str(free_port()),
        "MOODWATCH_BATCH_MAX_WAIT_S": "0.2",
        # Sooner than the demo's own defaults, so the whole story fits in a few minutes.
        "MOODWATCH_RETRAIN_MIN_NEW_LABELS": "25",
        "MOODWATCH_RETRAIN_INTERVAL_MINUTES": "0.25",
        "MOODWATCH_RETRAIN_TIME_BUDGET_S": "40",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def demo(demo_env: dict[str, str]) -> Iterator[Console]:
    command = [
        sys.executable, "-m", "moodwatch", "demo", "run",
        "--rate", "8", "--burst-after", "15", "--burst-for", "45", "--labels", "40",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=demo_env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    console = Console(process)
    try:
        yield console
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
        # Whatever happened, leave no demo process behind (`demo stop` knows their pid files).
        subprocess.run(
            [sys.executable, "-m", "moodwatch", "demo", "stop", "--keep-services"],
            env=demo_env, cwd=REPO, capture_output=True, timeout=120, check=False,
        )  # fmt: skip


def screenshot_alert(url: str) -> str:
    """The dashboard's alerts page and overview while the alert fires; the alerts page text."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/?from=now-15m")
            settle(page)
            shoot(page, "demo-overview", metrics=3, charts=2)
            page.goto(f"{url}/alerts?from=now-15m")
            page.get_by_text("demo-chat-topic-turns-negative").first.wait_for(timeout=90_000)
            settle(page)
            shoot(page, "demo-alerts")
            return str(page.inner_text("body"))
        finally:
            browser.close()


def test_the_first_run_shows_an_alert_a_retrain_and_a_hot_swap_then_stops_cleanly(
    demo: Console, demo_env: dict[str, str], es: Elasticsearch
) -> None:
    demo.wait(r"streaming the sample story", 420, "every process to come up")
    pids = [int(p) for p in re.findall(r"pid (\d+)", demo.text())]
    assert len(pids) == 4, demo.text()  # worker, alerter, scheduler, dashboard
    url = re.search(r"dashboard: (http://[^/\s]+)/\?from=now-15m", demo.text())
    assert url is not None, demo.text()

    demo.wait(r"ALERT FIRING  demo-chat-topic-turns-negative", 240, "the outage's alert")
    if CHROMIUM.exists():
        page = screenshot_alert(url.group(1))
        assert "demo-chat-topic-turns-negative" in page

    demo.wait(r"HOT-SWAP", 420, "a promoted version swapped into the worker")
    swap = re.search(r"now serves (\S+) \(was (\S+)\)", demo.text())
    assert swap is not None and swap.group(1) != swap.group(2)
    assert re.search(rf"RETRAIN\s+promoted {re.escape(swap.group(1))}", demo.text())
    demo.wait(r"ALERT RESOLVED demo-chat-topic-turns-negative", 300, "the alert to resolve")

    demo.process.send_signal(signal.SIGINT)  # what Ctrl-C does
    assert demo.process.wait(timeout=120) == 0, demo.text()
    summary = re.search(r"sent ([\d,]+) messages and (\d+) labels; ([\d,]+) of the", demo.text())
    assert summary is not None, demo.text()
    sent, indexed = (int(summary.group(n).replace(",", "")) for n in (1, 3))
    assert sent > 0 and indexed == sent, demo.text()
    assert not [pid for pid in pids if pidfile.is_alive(pid)], demo.text()

    prefix = demo_env["MOODWATCH_ES_INDEX_PREFIX"]
    es.indices.refresh(index=f"{prefix}-messages")
    new_version = es.count(
        index=f"{prefix}-messages", query={"term": {"model_version": swap.group(1)}}
    )["count"]
    assert new_version > 0, "no document carries the swapped-in version"
