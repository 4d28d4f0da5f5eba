"""The dashboard in a real browser: Debian's Chromium driven headless by Playwright against a
``moodwatch dashboard`` process on the real Elasticsearch and Kafka.

It opens each page, applies a filter, labels two messages with the keyboard (they arrive on
the labels topic), follows an alert into the explorer, and saves a screenshot of every page
under var/screenshots/ for people to look at.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from models.registry import Registry
from moodwatch.settings import Settings
from stream.connections import elasticsearch, kafka_options
from tests.integration import dashboard_seed
from tests.integration.streamkit import free_port, wait_for

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "screenshots"
seeded = dashboard_seed.seeded  # the module-scoped seeded prefix fixture

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/install-chromium.sh)"
)


def seed_episode(services: Settings, prefix: str, documents: list[dict[str, Any]]) -> str:
    """A firing episode (as the alerts component stores one); returns its topic."""
    topic, alerts = dashboard_seed.alert_documents(documents)
    client = elasticsearch(services)
    try:
        dashboard_seed.index_alerts(client, prefix, alerts)
    finally:
        client.close()
    return topic


@pytest.fixture
def dashboard_url(
    seeded, services: Settings, tiny_registry: Registry, unique, create_topic, tmp_path: Path
) -> Iterator[tuple[str, str, str, list[dict[str, Any]]]]:  # type: ignore[no-untyped-def]
    prefix, documents = seeded
    topic = asyncio.get_event_loop().run_until_complete(create_topic(unique("labels")))
    alert_topic = seed_episode(services, prefix, documents)
    port = free_port()
    env = {
        **os.environ,
        "MOODWATCH_ES_INDEX_PREFIX": prefix,
        "MOODWATCH_REGISTRY_PATH": str(tiny_registry.root),
        "MOODWATCH_TOPIC_LABELS": topic,
    }
    log = (tmp_path / "dashboard.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moodwatch", "dashboard", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, 60, "the dashboard to answer /_stcore/health")
        yield url, topic, alert_topic, documents
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def settle(page: Any) -> None:
    """Wait until Streamlit finished the run (no skeletons, not 'running')."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=90_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]') && "
        "!document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=90_000,
    )


def shoot(page: Any, name: str, metrics: int = 0, charts: int = 0, tables: int = 0) -> None:
    """Save a full-page screenshot once ``metrics`` numbers, ``charts`` charts and ``tables``
    tables have drawn."""
    page.wait_for_function(
        """([metrics, charts, tables]) =>
            document.querySelectorAll('[data-testid="stMetricValue"]').length >= metrics &&
            document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= charts &&
            document.querySelectorAll('[data-testid="stDataFrame"] canvas').length >= tables""",
        arg=[metrics, charts, tables],
        timeout=90_000,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def received_labels(services: Settings, topic: str, count: int) -> list[dict[str, Any]]:
    async def consume() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            topic, **kafka_options(services), auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        found: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(30):
                while len(found) < count:
                    for records in (await consumer.getmany(timeout_ms=1000)).values():
                        found.extend(json.loads(r.value) for r in records)
        finally:
            await consumer.stop()
        return found

    return asyncio.run(consume())


def test_a_support_lead_walks_through_the_dashboard(dashboard_url, services) -> None:  # type: ignore[no-untyped-def]
    url, labels_topic, alert_topic, documents = dashboard_url
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # Generous: two shared cores under other tests' load can take long over a first render.
        page.set_default_timeout(90_000)
        try:
            # Overview, then a filter: the URL carries it and the numbers follow.
            page.goto(url + "/?from=now-7d")
            settle(page)
            page.get_by_text("How people feel — last 7 days").wait_for()
            shoot(page, "overview", metrics=4, charts=2)
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_test_id("stSelectbox").filter(has_text="Channel").click()
            page.get_by_role("option", name="news", exact=True).click()
            page.wait_for_url("**channel=news**", timeout=30_000)
            settle(page)
            news = [
                d
                for d in documents
                if d["channel"] == "news"
                and datetime.fromisoformat(d["created_at"]) > datetime.now(UTC) - timedelta(days=7)
            ]
            messages = page.get_by_test_id("stMetric").filter(has_text="Messages")
            messages.get_by_text(f"{len(news):,}", exact=True).wait_for(timeout=30_000)
            shoot(page, "overview-news", metrics=4, charts=2)

            # Explorer with the filter kept.
            page.get_by_role("link", name="Explorer").click()
            page.wait_for_url("**/explorer**channel=news**", timeout=30_000)
            settle(page)
            page.get_by_text(f"{len(news):,} messages").wait_for(timeout=30_000)
            shoot(page, "explorer", tables=1)

            # Alerts: follow the firing episode into the explorer on its window and group.
            page.goto(url + "/alerts?from=now-7d")
            settle(page)
            page.get_by_text("FIRING").first.wait_for()
            shoot(page, "alerts", metrics=2)
            page.get_by_role("link", name="Open these messages in the explorer").first.click()
            page.wait_for_url(f"**/explorer**topic={alert_topic}**", timeout=30_000)
            settle(page)
            page.get_by_text("Showing the messages behind alert").wait_for(timeout=30_000)
            shoot(page, "explorer-from-alert", tables=1)

            # Label queue: a name, then two labels by keyboard.
            page.goto(url + "/label_queue?from=now-7d")
            settle(page)
            name = page.get_by_label("Your name (recorded with each label)")
            name.fill("lee")
            name.press("Enter")
            settle(page)
            page.get_by_text("Sentiment (sends the label)").wait_for()
            shoot(page, "label_queue")
            first = page.locator("h3").first.inner_text()
            page.locator("h3").first.click()  # focus leaves the name field: keys reach the page
            page.keyboard.press("1")
            page.wait_for_function(
                "t => document.querySelector('h3') && document.querySelector('h3').innerText !== t",
                arg=first,
                timeout=30_000,
            )
            settle(page)
            page.keyboard.press("3")
            settle(page)

            page.goto(url + "/models")
            settle(page)
            page.get_by_text("Serving").wait_for()
            shoot(page, "models", tables=2)
        finally:
            browser.close()

    labels = received_labels(services, labels_topic, 2)
    assert [label["sentiment"] for label in labels] == ["negative", "positive"]
    assert {label["labeler"] for label in labels} == {"lee"}
    texts = {d["id"]: d["text"] for d in documents}
    assert texts[labels[0]["message_id"]].strip()[:40] in first
    assert labels[0]["message_id"] != labels[1]["message_id"]
