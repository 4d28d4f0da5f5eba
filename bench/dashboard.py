"""How fast the dashboard's overview and explorer answer over 1 million indexed messages.

Seeds ``--count`` synthetic scored messages over the last ``--days`` (bulk, once: a later run
with the same prefix reuses them), then times, for the last 24 hours and the last 30 days:

- overview: every query the overview page makes, as one render does it (headline, timeline,
  negative share by topic and by source side by side; then filter values, alert episodes);
- explorer: the first page of the table plus the filter values;
- overview through Streamlit's AppTest (the whole page script, caches cleared), 24 h and 30 d.

Each figure is the median of ``--repeats`` runs with its spread (max - min); the view is
rebuilt each run and the shard request cache is cleared before each, so every run computes
its aggregations (a user reloading the same view within a refresh would be faster).
Targets: overview <= 1 s for 24 h, <= 2 s for 30 days.

    python -m bench.dashboard --prefix mwbench-dash --count 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from bench.seed_messages import seed_messages
from dashboard.filters import View, view_from_params
from dashboard.queries import episodes, messages, overview

TARGETS_S = {"24h": 1.0, "30d": 2.0}
WINDOWS = {"24h": "now-24h", "30d": "now-30d"}


def overview_render(client: Elasticsearch, prefix: str, view: View) -> None:
    alias = f"{prefix}-messages"
    overview.overview_data(client, alias, view)
    overview.filter_options(client, alias, view)
    episodes.list_episodes(client, prefix, view)


def explorer_render(client: Elasticsearch, prefix: str, view: View) -> None:
    alias = f"{prefix}-messages"
    messages.search_messages(client, alias, view, size=50)
    overview.filter_options(client, alias, view)


def timed(
    action: Callable[[], Any], repeats: int, before: Callable[[], Any] = lambda: None
) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        before()
        began = time.perf_counter()
        action()
        runs.append(time.perf_counter() - began)
    return {
        "median_s": round(statistics.median(runs), 3),
        "spread_s": round(max(runs) - min(runs), 3),
        "runs_s": [round(r, 3) for r in runs],
    }


def apptest_overview(prefix: str, window: str) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["MOODWATCH_ES_INDEX_PREFIX"] = prefix
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(
        str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py"), default_timeout=120
    )
    app.query_params["from"] = window
    app.run()
    if app.exception:
        raise RuntimeError(f"the overview failed: {app.exception[0].value}")


def measure(
    client: Elasticsearch, prefix: str, since: str, repeats: int, apptest: bool
) -> dict[str, dict[str, Any]]:
    """Timings of one window (``now-24h``, ``now-30d``) for each part."""

    def view() -> View:
        return view_from_params({"from": since})

    def cold() -> None:
        # A range covering a whole index is rewritten to match_all, which makes the shard
        # request cache answer every later run: clear it, so each run computes its answer.
        client.indices.clear_cache(index=f"{prefix}-messages", request=True)

    overview_render(client, prefix, view())  # warm the file system cache once
    figures: dict[str, dict[str, Any]] = {
        "overview": timed(lambda: overview_render(client, prefix, view()), repeats, cold),
        "explorer": timed(lambda: explorer_render(client, prefix, view()), repeats, cold),
    }
    if apptest:
        figures["overview_apptest"] = timed(lambda: apptest_overview(prefix, since), repeats, cold)
    return figures


def ensure_seeded(client: Elasticsearch, prefix: str, count: int, days: float) -> dict[str, Any]:
    alias = f"{prefix}-messages"
    present = 0
    if client.indices.exists_alias(name=alias):
        present = int(client.count(index=alias)["count"])
    if present >= count:
        return {"seeded": 0, "present": present, "seed_s": 0.0}
    end = datetime.now(UTC)
    began = time.perf_counter()
    written = seed_messages(
        client, prefix, count, start=end - timedelta(days=days), end=end, groups=50
    )
    return {
        "seeded": written,
        "present": int(client.count(index=alias)["count"]),
        "seed_s": round(time.perf_counter() - began, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="mwbench-dash")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--es", default="http://127.0.0.1:9200")
    parser.add_argument("--no-apptest", action="store_true", help="skip the AppTest renders")
    args = parser.parse_args(argv)

    client = Elasticsearch(args.es, request_timeout=300)
    try:
        seeding = ensure_seeded(client, args.prefix, args.count, args.days)
        client.indices.forcemerge(index=f"{args.prefix}-messages", max_num_segments=1)
        result: dict[str, Any] = {
            "prefix": args.prefix,
            "messages": seeding["present"],
            "seeding": seeding,
            "repeats": args.repeats,
            "cpu_cores": os.cpu_count(),
            "overview": {},
            "explorer": {},
            "overview_apptest": {},
        }
        for name, since in WINDOWS.items():
            figures = measure(client, args.prefix, since, args.repeats, not args.no_apptest)
            figures["overview"]["target_s"] = TARGETS_S[name]
            figures["overview"]["met"] = figures["overview"]["median_s"] <= TARGETS_S[name]
            for part, numbers in figures.items():
                result[part][name] = numbers
    finally:
        client.close()
    print(json.dumps(result, indent=2))
    summary = ", ".join(
        f"overview {w} {result['overview'][w]['median_s']:.2f} s "
        f"(target {TARGETS_S[w]:.0f} s), explorer {w} {result['explorer'][w]['median_s']:.2f} s"
        for w in WINDOWS
    )
    print(f"{result['messages']:,} messages: {summary}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
