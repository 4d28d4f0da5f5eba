"""Alert benchmark: latency from a searchable burst to the webhook, and evaluation cost.

1. Latency: an in-process alerter (real ES, 5 s interval by default) with a real webhook
   notifier posting to a local receiver; 10 bursts, each on its own topic, seeded with
   ``created_at`` = now; latency = receiver got the firing notice − bulk request refreshed.
2. Cost: ``count`` messages (default 1 million) over 24 h in ``groups`` topics (default 50),
   seeded once into ``--prefix`` with the bulk API and reused; the time of one evaluation
   (aggregation + judging + recording) of one spike rule grouped by topic, then of a cycle of
   10 different rules. Median of ``--repeat`` runs.

    python -m bench.alerts                     # both parts, JSON on stdout
    python -m bench.alerts --skip-latency --count 200000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import Elasticsearch

from alerts.evaluator import Evaluator
from alerts.notifiers.webhook import WebhookNotifier
from alerts.rules import AlertRule
from alerts.service import Alerter
from alerts.store import AlertStore
from bench.seed_messages import index_documents, scored, seed_messages
from moodwatch.settings import load_settings
from stream.index_layout import IndexLayout

SPIKE: dict[str, Any] = {
    "name": "bench-spike",
    "group_by": "topic",
    "window": "5m",
    "condition": {
        "type": "spike",
        "min_ratio": 2.0,
        "min_z": 3.0,
        "baseline_windows": 12,
        "min_count": 10,
        "min_negative": 5,
    },
    "notify": ["log"],
}


def cost_rules() -> list[AlertRule]:
    """Ten rules of every kind and grouping, as a busy deployment might run."""
    specs: list[dict[str, Any]] = [
        SPIKE,
        {**SPIKE, "name": "spike-volume", "condition": {**SPIKE["condition"], "metric": "volume"}},
        {**SPIKE, "name": "spike-prob", "counting": {"mode": "probability"}},
        {**SPIKE, "name": "spike-source", "group_by": "source"},
        {**SPIKE, "name": "spike-chat", "filter": {"channel": "chat"}},
        {"name": "share-topic", "group_by": "topic", "window": "10m",
         "condition": {"type": "negative_share", "above": 0.6, "min_count": 20}},
        {"name": "share-all", "window": "10m",
         "condition": {"type": "negative_share", "above": 0.6, "min_count": 20}},
        {"name": "volume-topic", "group_by": "topic", "window": "15m",
         "condition": {"type": "volume", "below": 1}},
        {"name": "drift-channel", "group_by": "channel", "window": "30m",
         "condition": {"type": "model_drift", "max_confidence_drop": 0.2, "max_mix_shift": 0.4}},
        {**SPIKE, "name": "spike-yesterday", "window": "15m",
         "condition": {**SPIKE["condition"], "baseline": "same_hour_yesterday",
                       "baseline_windows": 2, "min_baseline_windows": 1}},
    ]  # fmt: skip
    return [AlertRule.model_validate({**spec, "notify": ["log"]}) for spec in specs]


def ensure_history(client: Elasticsearch, prefix: str, count: int, groups: int) -> dict[str, Any]:
    alias = f"{prefix}-messages"
    have = 0
    if client.indices.exists_alias(name=alias):
        have = int(client.count(index=alias)["count"])
    if have >= count:
        return {"seeded": 0, "documents": have, "seed_seconds": 0.0}
    end = datetime.now(UTC)
    began = time.perf_counter()
    written = seed_messages(
        client, prefix, count, start=end - timedelta(hours=24), end=end, groups=groups
    )
    return {
        "seeded": written,
        "documents": written,
        "seed_seconds": round(time.perf_counter() - began, 1),
    }


def evaluation_cost(
    client: Elasticsearch, prefix: str, repeat: int, at: datetime
) -> dict[str, Any]:
    store = AlertStore(client, f"{prefix}-cost-{uuid.uuid4().hex[:6]}")
    store.ensure_index()
    evaluator = Evaluator(
        client, store, f"{prefix}-messages", dashboard_url="http://127.0.0.1:8501", notifiers=[]
    )
    rules = cost_rules()
    one: list[float] = []
    cycle: list[float] = []
    groups = 0
    try:
        for _ in range(repeat):
            began = time.perf_counter()
            outcome = evaluator.evaluate(rules[0], at)
            one.append(time.perf_counter() - began)
            groups = len(outcome.verdicts)
            began = time.perf_counter()
            for rule in rules:
                evaluator.evaluate(rule, at)
            cycle.append(time.perf_counter() - began)
    finally:
        client.indices.delete(index=store.index)
    return {
        "groups_evaluated": groups,
        "one_rule_s": round(statistics.median(one), 3),
        "one_rule_runs_s": [round(x, 3) for x in one],
        "ten_rules_s": round(statistics.median(cycle), 3),
        "ten_rules_runs_s": [round(x, 3) for x in cycle],
        "per_rule_in_ten_s": round(statistics.median(cycle) / len(rules), 3),
    }


class Receiver:
    """A local webhook that records when each firing notice arrived, by group."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                group = body["moodwatch"]["episode_id"].split(":")[1]
                if body["moodwatch"]["notice"] == "firing":
                    receiver.arrived.setdefault(group, time.time())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


async def latency(
    client: Elasticsearch, prefix: str, bursts: int, interval: float
) -> dict[str, Any]:
    from pydantic import SecretStr

    receiver = Receiver()
    rules = Path(f"/tmp/{prefix}-rules.yaml")
    rules.write_text(
        yaml.safe_dump(
            {
                "name": "bench-latency",
                "group_by": "topic",
                "window": "1m",
                "condition": {"type": "negative_share", "above": 0.6, "min_count": 10},
                "notify": ["webhook"],
            }
        )
    )
    settings = load_settings(
        es_index_prefix=prefix, alert_rules_path=rules, alert_eval_interval_s=interval
    )
    webhook = WebhookNotifier(SecretStr(receiver.url), 5.0)
    alerter = Alerter(settings, client, notifiers={"webhook": webhook}, web_port=0)
    await alerter.start()
    stop = asyncio.Event()
    task = asyncio.create_task(alerter.run_until(stop))
    layout = IndexLayout(prefix)
    results: list[float] = []
    try:
        for k in range(bursts):
            group = f"burst-{k}"
            now = datetime.now(UTC)
            docs = [
                scored(f"{group}-{i}", now, topic=group, channel="chat", source="bench",
                       sentiment="negative", confidence=0.9, text="refund outage broken")
                for i in range(20)
            ]  # fmt: skip
            await asyncio.to_thread(index_documents, client, layout, docs, threads=1)
            searchable = time.time()
            deadline = searchable + 60
            while group not in receiver.arrived and time.time() < deadline:
                await asyncio.sleep(0.05)
            if group in receiver.arrived:
                results.append(receiver.arrived[group] - searchable)
            # desynchronise the next burst from the evaluation ticks
            await asyncio.sleep(0.7 + (k * 1.3) % interval)
    finally:
        stop.set()
        await task
        await alerter.stop()
        receiver.server.shutdown()
        rules.unlink(missing_ok=True)
    return {
        "bursts": bursts,
        "delivered": len(results),
        "interval_s": interval,
        "p50_s": round(statistics.median(results), 2) if results else None,
        "max_s": round(max(results), 2) if results else None,
        "runs_s": [round(x, 2) for x in results],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="mwbench-alerts")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the seeded history for reruns")
    args = parser.parse_args(argv)
    settings = load_settings()
    client = Elasticsearch(settings.es_urls, request_timeout=300)
    result: dict[str, Any] = {"benchmark": "alerts"}
    latency_prefix = f"{args.prefix}-lat-{uuid.uuid4().hex[:6]}"
    try:
        if not args.skip_cost:
            history = ensure_history(client, args.prefix, args.count, args.groups)
            at = datetime.now(UTC)
            result["cost"] = {
                "messages": history["documents"],
                "groups": args.groups,
                "seed_seconds": history["seed_seconds"],
                **evaluation_cost(client, args.prefix, args.repeat, at),
            }
        if not args.skip_latency:
            result["latency"] = asyncio.run(
                latency(client, latency_prefix, args.bursts, args.interval)
            )
    finally:
        for name in client.indices.get(index=f"{latency_prefix}-*", ignore_unavailable=True):
            client.indices.delete(index=name)
        client.options(ignore_status=404).indices.delete_index_template(
            name=f"{latency_prefix}-messages"
        )
        if not args.keep and not args.skip_cost:
            for name in client.indices.get(index=f"{args.prefix}-*", ignore_unavailable=True):
                client.indices.delete(index=name)
            client.options(ignore_status=404).indices.delete_index_template(
                name=f"{args.prefix}-messages"
            )
        client.close()
    print(json.dumps(result))
    summary = []
    if "latency" in result:
        lat = result["latency"]
        got = f"{lat['delivered']}/{lat['bursts']}"
        summary.append(f"latency p50 {lat['p50_s']} s max {lat['max_s']} s ({got})")
    if "cost" in result:
        cost = result["cost"]
        summary.append(
            f"{cost['messages']} msgs/{cost['groups_evaluated']} groups: one rule "
            f"{cost['one_rule_s']} s, ten rules {cost['ten_rules_s']} s"
        )
    print("alerts: " + "; ".join(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
