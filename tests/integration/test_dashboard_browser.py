"""The dashboard in a real browser: Debian's Chromium driven headless by Playwright against a
``moodwatch dashboard`` process on the real Elasticsearch and Kafka.

It opens each page, applies a filter, labels two messages with the keyboard, follows an alert
into the explorer, and saves a screenshot of every page under var/screenshots/ for people to
look at. A real ``moodwatch worker`` serves the test's topics and index prefix, so the labels
go the whole way: dashboard -> labels topic -> the worker's labels agent -> the labels index.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from moodwatch.settings import Settings
from stream.connections import elasticsearch
from stream.label_index import labels_index
from tests.integration import dashboard_seed
from tests.integration.browser import CHROMIUM, CHROMIUM_ARGS, settle, shoot
from tests.integration.streamkit import StreamRig, free_port, wait_for

playwright = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[2]
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
    seeded, services: Settings, rig: StreamRig, tmp_path: Path
) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:  # type: ignore[no-untyped-def]
    """The dashboard on the seeded prefix, and a worker on the same prefix and the rig's
    topics (its labels agent stores what the dashboard sends)."""
    prefix, documents = seeded
    alert_topic = seed_episode(services, prefix, documents)
    port = free_port()
    env = {
        **os.environ,
        **rig.env,
        "MOODWATCH_ES_INDEX_PREFIX": prefix,
        "MOODWATCH_DASHBOARD_REFRESH_S": "2",
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
        # The worker loads its model while the dashboard starts.
        rig.start_worker("labels-worker", env={"MOODWATCH_ES_INDEX_PREFIX": prefix})
        wait_for(healthy, 60, "the dashboard to answer /_stcore/health")
        yield url, alert_topic, documents
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def stored_labels(es: Elasticsearch, prefix: str, labeler: str, count: int) -> list[dict[str, Any]]:
    """The labeler's label documents in the labels index (oldest label first), once there are
    ``count``."""
    index = labels_index(prefix)
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        nonlocal found
        if not es.indices.exists(index=index):
            return False
        es.indices.refresh(index=index)
        hits = es.search(
            index=index, query={"term": {"labeler": labeler}}, sort=[{"labeled_at": "asc"}]
        )["hits"]["hits"]
        found = [{"_id": h["_id"], **h["_source"]} for h in hits]
        return len(found) >= count

    wait_for(arrived, 60, f"{count} labels by {labeler} in {index}")
    return found


def test_a_support_lead_walks_through_the_dashboard(dashboard_url, seeded, es, rig) -> None:  # type: ignore[no-untyped-def]
    url, alert_topic, documents = dashboard_url
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

            # Live: a news message scored by the worker shows up without a reload.
            live = {
                "id": "live-news-1",
                "text": "Shares in Parcelwren fell sharply after the delivery firm cut its outlook",
                "channel": "news",
                "source": "Civic Post",
            }
            # (In a thread: Playwright's sync API holds this thread's event loop.)
            with ThreadPoolExecutor(1) as pool:
                pool.submit(rig.produce, [("news", json.dumps(live).encode())]).result()
            news_count = len(news) + 1
            messages.get_by_text(f"{news_count:,}", exact=True).wait_for(timeout=60_000)

            # Explorer with the filter kept.
            page.get_by_role("link", name="Explorer").click()
            page.wait_for_url("**/explorer**channel=news**", timeout=30_000)
            settle(page)
            page.get_by_text(f"{news_count:,} messages").wait_for(timeout=30_000)
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
            # A message in full: a click on the first row's marker shows both heads.
            page.get_by_test_id("stDataFrame").first.click(position={"x": 16, "y": 52})
            settle(page)
            page.get_by_text("Sentiment:").first.wait_for(timeout=30_000)
            page.get_by_text("Topic:").first.wait_for(timeout=30_000)
            shoot(page, "explorer-message", tables=3)

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
            page.get_by_text(re.compile(r"^Serving ")).wait_for()
            shoot(page, "models", tables=2)
        finally:
            browser.close()

    # The worker's labels agent joined both labels to their messages and stored them under
    # ``<message_id>:<labeler>``.
    labels = stored_labels(es, seeded[0], "lee", 2)
    assert len(labels) == 2
    assert [label["sentiment"] for label in labels] == ["negative", "positive"]
    assert [label["_id"] for label in labels] == [f"{lb['message_id']}:lee" for lb in labels]
    assert labels[0]["message_id"] != labels[1]["message_id"]
    texts = {d["id"]: d["text"] for d in documents}
    assert [label["text"] for label in labels] == [texts[lb["message_id"]] for lb in labels]
    assert texts[labels[0]["message_id"]].strip()[:40] in first
