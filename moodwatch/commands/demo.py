"""``moodwatch demo``: the whole system on local services, for a first look.

``demo run`` starts Kafka + Elasticsearch (if needed), makes sure a model is current (training
the default one on the seed data the first time), starts a worker, the alerter, the retrain
scheduler and the dashboard, and replays the bundled sample stream in real time: a calm
baseline, an outage that floods the chat queue (an alert fires, then resolves), and a labeller
whose labels make the scheduler retrain and the worker hot-swap the promoted version. It
prints each of those as it happens. Ctrl-C (or ``demo stop`` from another terminal) stops what
it started. ``demo feed`` sends the samples once, as fast as possible, and reports what got
indexed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from moodwatch.demo.processes import Process, Supervisor
from moodwatch.demo.scenario import LABELER, SAMPLES, Scenario, Timeline
from moodwatch.errors import InfraError
from moodwatch.settings import Settings, load_settings

# Settings the demo's processes get unless the user's environment says otherwise: short rule
# windows, and a retrain as soon as a few dozen labels arrived, so all of it fits in minutes.
DEMO_DEFAULTS = {
    "MOODWATCH_ALERT_RULES_PATH": str(SAMPLES / "demo_rules.yaml"),
    "MOODWATCH_RETRAIN_MIN_NEW_LABELS": "40",
    "MOODWATCH_RETRAIN_INTERVAL_MINUTES": "0.5",
    "MOODWATCH_RETRAIN_TIME_BUDGET_S": "60",
    "MOODWATCH_SHADOW_HOURS": "1",
    "MOODWATCH_SHADOW_MAX_MESSAGES": "500",
}
WORKER_START_S = 300.0
OTHER_START_S = 90.0


def demo_processes(settings: Settings, dashboard: bool = True) -> list[Process]:
    """What ``demo run`` starts, in order."""
    from moodwatch.commands.dashboard import entry_script

    processes = [
        Process("worker", ("worker",), f"http://127.0.0.1:{settings.worker_web_port}/health"),
        Process("alerter", ("alerter",), f"http://127.0.0.1:{settings.alerter_web_port}/health"),
        Process("scheduler", ("scheduler",)),
    ]
    if dashboard:
        processes.append(
            Process(
                "dashboard",
                ("dashboard",),
                f"http://127.0.0.1:{settings.dashboard_port}/_stcore/health",
                runs_as=("-m", "streamlit", "run", str(entry_script())),
            )
        )
    return processes


def supervisor(settings: Settings) -> Supervisor:
    return Supervisor(settings.infra_home / "demo")


@click.group()
def demo() -> None:
    """Run the whole system on local services with the bundled sample story."""


@dataclass
class Started:
    """What this run started (and so stops on the way out)."""

    services: list[str]
    processes: list[str]


@demo.command()
@click.option("--rate", type=click.FloatRange(0.5, 500), default=5.0, show_default=True,
              help="Messages per second in calm times (both channels).")
@click.option("--burst-after", type=click.FloatRange(0), default=30.0, show_default=True,
              help="Seconds of calm before the outage starts.")
@click.option("--burst-for", type=click.FloatRange(1), default=90.0, show_default=True,
              help="How long the outage floods the chat queue, in seconds.")
@click.option("--labels", "max_labels", type=click.IntRange(0), default=60, show_default=True,
              help="Labels the simulated labeller sends (a retrain needs "
                   "MOODWATCH_RETRAIN_MIN_NEW_LABELS, 40 in the demo).")
@click.option("--duration", type=click.FloatRange(1), default=None,
              help="Stop by itself after this many seconds of streaming (default: until Ctrl-C).")
@click.option("--dashboard/--no-dashboard", default=True, show_default=True,
              help="Start the dashboard too.")
def run(
    rate: float,
    burst_after: float,
    burst_for: float,
    max_labels: int,
    duration: float | None,
    dashboard: bool,
) -> None:
    """Start everything and replay the sample story live; Ctrl-C stops what it started."""
    for name, value in DEMO_DEFAULTS.items():
        os.environ.setdefault(name, value)
    settings = load_settings()
    timeline = Timeline(
        rate=rate, burst_after_s=burst_after, burst_for_s=burst_for, max_labels=max_labels
    )
    started = Started([], [])
    clock = time.monotonic()
    try:
        _bring_up(settings, started, dashboard)
        click.secho(
            f"ready in {time.monotonic() - clock:.0f} s; streaming the sample story "
            f"(outage at +{burst_after:.0f} s). Ctrl-C stops everything this run started.",
            bold=True,
        )
        summary = asyncio.run(_live(settings, timeline, duration))
        click.echo(summary)
    except KeyboardInterrupt:
        click.echo("\ninterrupted")
    finally:
        _tear_down(settings, started)


def _bring_up(settings: Settings, started: Started, dashboard: bool) -> None:
    from infra.services import ensure_running, status
    from models.registry import Registry
    from models.taxonomy import load_taxonomy
    from models.versions import ensure_default_version
    from stream.connections import elasticsearch
    from stream.index_admin import create_templates
    from stream.index_layout import layout_for
    from stream.topics import ensure_topics

    click.secho("1/4 local Kafka and Elasticsearch (starting beside the model)", bold=True)
    before = {s.name for s in status(settings) if s.healthy}
    # The services mostly wait on their JVMs while a first run trains the default model: both
    # at once save the services' start on a fresh machine.
    with ThreadPoolExecutor(1, thread_name_prefix="services") as pool:
        services = pool.submit(ensure_running, settings)
        click.secho("2/4 model", bold=True)
        try:
            version = ensure_default_version(
                Registry(settings.registry_path),
                load_taxonomy(settings.taxonomy_path),
                settings.encoder_path,
            )
        finally:
            services.result()  # the services' own error first, when both failed
            started.services = [
                s.name for s in status(settings) if s.running and s.name not in before
            ]
    click.echo(
        f"  current version {version.id}: golden-set sentiment macro-F1 "
        f"{version.metrics.get('sentiment_macro_f1', float('nan')):.3f}, topic macro-F1 "
        f"{version.metrics.get('topic_macro_f1', float('nan')):.3f}"
    )
    click.secho("3/4 topics, indices and the demo's alert rules", bold=True)
    client = elasticsearch(settings)
    try:
        create_templates(client, layout_for(settings))
    finally:
        client.close()
    asyncio.run(ensure_topics(settings))
    click.echo(f"  rules: {settings.alert_rules_path}")
    click.secho("4/4 worker, alerter, scheduler" + (", dashboard" if dashboard else ""), bold=True)
    keeper = supervisor(settings)
    processes = demo_processes(settings, dashboard)
    launched = []
    for process in processes:  # all start at once; each then has to answer its health check
        pid, fresh = keeper.start(process)
        if fresh:
            started.processes.append(process.name)
        launched.append((process, pid, fresh))
    for process, pid, fresh in launched:
        timeout = WORKER_START_S if process.name == "worker" else OTHER_START_S
        keeper.wait_healthy(process, timeout)
        note = "" if fresh else " (already running)"
        click.echo(f"  {process.name:<9} pid {pid}{note}, log {keeper.log_path(process.name)}")
    if dashboard:
        # The last 15 minutes: the story fills the charts instead of a sliver of a day.
        click.secho(
            f"  dashboard: http://127.0.0.1:{settings.dashboard_port}/?from=now-15m", fg="green"
        )


def _tear_down(settings: Settings, started: Started) -> None:
    if not started.processes and not started.services:
        return
    click.echo("stopping what this run started ...")
    keeper = supervisor(settings)
    for process in reversed(demo_processes(settings)):  # the reverse of starting
        if process.name in started.processes:
            pid = keeper.stop(process)
            click.echo(f"  {process.name} {pid} stopped")
    if started.services:
        from infra.services import stop_service

        for name in started.services:
            stop_service(name, settings)
            click.echo(f"  {name} stopped")


async def _live(settings: Settings, timeline: Timeline, duration: float | None) -> str:
    from moodwatch.demo.events import Watch
    from stream.connections import elasticsearch
    from stream.index_layout import layout_for

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    client = elasticsearch(settings)
    watch = Watch(
        client,
        settings.es_index_prefix,
        layout_for(settings).messages_alias,
        f"http://127.0.0.1:{settings.worker_web_port}/health",
        since=datetime.now(UTC),
    )
    await asyncio.to_thread(watch.start)
    scenario = Scenario(settings, timeline, run_tag=secrets.token_hex(3))
    feeding = asyncio.ensure_future(scenario.run(stop))
    began = loop.time()
    phase, labels_told, trouble = "calm", 0, ""

    def say(text: str) -> None:
        elapsed = int(loop.time() - began)
        click.echo(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}")

    try:
        while not stop.is_set() and not feeding.done():
            try:
                events = await asyncio.to_thread(watch.poll)
                trouble = ""
            except Exception as exc:  # a status line must not stop the demo
                if str(exc) != trouble:
                    say(f"(status unavailable: {exc})")
                trouble, events = str(exc), []
            for event in events:
                say(event.text)
            if scenario.progress.phase != phase:
                phase = scenario.progress.phase
                say(_PHASE_NEWS.get(phase, phase))
            if scenario.progress.labels_sent >= labels_told + 10:
                labels_told = scenario.progress.labels_sent // 10 * 10
                say(f"LABELS       {labels_told} messages labelled by {LABELER}")
            if duration is not None and loop.time() - began >= duration:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
    finally:
        stop.set()
        await asyncio.gather(feeding, return_exceptions=True)
    if feeding.done() and not feeding.cancelled() and feeding.exception() is not None:
        raise feeding.exception()  # type: ignore[misc]
    sent = scenario.progress.total_sent
    said = f"sent {sent:,} messages and {scenario.progress.labels_sent} labels; "
    try:
        indexed = await asyncio.to_thread(_settled_count, watch, sent)
    except Exception as exc:  # Elasticsearch stopped under us: say so, still stop the rest
        return said + f"could not count what got indexed ({exc})"
    finally:
        client.close()
    return said + f"{indexed:,} of the messages indexed"


_PHASE_NEWS = {
    "burst": "STORY        the outage begins: the chat queue floods with payment complaints",
    "after": "STORY        the outage is over: refunds and apologies, then calm again",
}


def _settled_count(watch: Any, sent: int, timeout_s: float = 30.0) -> int:
    """Messages indexed by this run, once the worker caught up (or the time ran out)."""
    deadline = time.monotonic() + timeout_s
    while True:
        indexed = watch.indexed_total() - watch.baseline_count
        if indexed >= sent or time.monotonic() > deadline:
            return int(indexed)
        time.sleep(0.5)


@demo.command("feed")
@click.option(
    "--passes",
    type=click.IntRange(1, 100),
    default=4,
    show_default=True,
    help="How many times to feed the sample files (each pass gets new ids).",
)
def feed_samples(passes: int) -> None:
    """Feed the samples once as fast as possible to a running worker; show what got indexed."""
    from stream.connections import elasticsearch
    from stream.feeder import ReadStats, Row, RowOptions, feed, read_file
    from stream.feeder import passes as loop_passes
    from stream.index_layout import layout_for

    settings = load_settings()
    if supervisor(settings).running(demo_processes(settings)[0]) is None:
        raise InfraError("no demo worker is running; start the demo first (`moodwatch demo run`)")
    client = elasticsearch(settings)
    layout = layout_for(settings)
    before = _count(client, layout.messages_alias)
    sent = 0
    for channel in ("news", "chat"):
        path = SAMPLES / f"{channel}.jsonl"
        total = passes * _lines(path)

        def open_pass(p: Path = path, c: str = channel) -> Iterator[Row]:
            return read_file(p, "jsonl", RowOptions(c), ReadStats())

        rows = itertools.islice(loop_passes(open_pass, True), total)
        result = asyncio.run(
            feed(settings, rows, settings.input_topics[channel], progress=True, total=total)
        )
        sent += result.sent
    started, last, last_t = time.monotonic(), before, time.monotonic()
    while True:
        time.sleep(1.0)
        now = _count(client, layout.messages_alias)
        rate = (now - last) / (time.monotonic() - last_t)
        last, last_t = now, time.monotonic()
        click.echo(f"  indexed {now - before:>6}/{sent}  ({rate:,.0f} msg/s)")
        if now - before >= sent or (rate == 0 and time.monotonic() - started > 30):
            break
    elapsed = time.monotonic() - started
    click.echo(
        f"indexed {last - before} messages in {elapsed:.1f} s "
        f"({(last - before) / max(elapsed, 1e-9):,.0f} msg/s end to end)"
    )
    _show_examples(client, layout.messages_alias)
    client.close()


def _lines(path: Path) -> int:
    return sum(1 for line in path.open(encoding="utf-8") if line.strip())


def _count(client: Any, alias: str) -> int:
    if not client.indices.exists_alias(name=alias):
        return 0
    client.indices.refresh(index=alias)
    return int(client.count(index=alias)["count"])


def _show_examples(client: Any, alias: str) -> None:
    result = client.search(
        index=alias,
        size=0,
        aggs={
            "channel": {
                "terms": {"field": "channel"},
                "aggs": {"sentiment": {"terms": {"field": "sentiment.label"}}},
            }
        },
    )
    click.secho("\nsentiment by channel", bold=True)
    for bucket in result["aggregations"]["channel"]["buckets"]:
        counts = ", ".join(f"{b['doc_count']} {b['key']}" for b in bucket["sentiment"]["buckets"])
        click.echo(f"  {bucket['key']:<5} {counts}")
    click.secho("\na few scored messages", bold=True)
    hits = client.search(
        index=alias,
        size=6,
        sort=[{"indexed_at": "desc"}],
        query={"bool": {"should": [{"term": {"channel": "chat"}}, {"term": {"channel": "news"}}]}},
    )
    for hit in hits["hits"]["hits"]:
        doc = hit["_source"]
        sentiment, topic = doc["sentiment"], doc["topic"]
        click.echo(
            f"  [{doc['channel']}] {sentiment['label']:>8} {sentiment['confidence']:.2f}  "
            f"{topic['label']:<18} {doc['text'][:70]}"
        )


@demo.command()
@click.option("--keep-services", is_flag=True, help="Leave Kafka and Elasticsearch running.")
def stop(keep_services: bool) -> None:
    """Stop the demo's processes and (unless --keep-services) Kafka and Elasticsearch."""
    settings = load_settings()
    keeper = supervisor(settings)
    stopped = False
    for process in reversed(demo_processes(settings)):
        pid = keeper.stop(process)
        if pid is not None:
            stopped = True
            click.echo(f"{process.name} {pid} stopped")
    if not stopped:
        click.echo("no demo process was running")
    if not keep_services:
        from infra.services import down

        down(settings)
        click.echo("Kafka and Elasticsearch stopped")
