"""``moodwatch demo``: the whole system on local services, for a first look.

``demo run`` starts Kafka + Elasticsearch (if needed), makes sure a model is current (training
the default one on the seed data the first time), starts a background worker, feeds the bundled
sample stream and reports what got indexed. ``demo stop`` stops the worker and the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import click

from infra import pidfile
from moodwatch.errors import InfraError
from moodwatch.settings import Settings, load_settings

SAMPLES = Path(str(resources.files("stream").joinpath("samples")))


# The demo worker's command line after the interpreter; a pid whose process does not run
# exactly this is not ours (pids are recycled), whatever the pid file says.
_WORKER_ARGS = ["-m", "moodwatch", "worker"]
STOP_TIMEOUT_S = 30.0
KILL_WAIT_S = 5.0


def _pidfile(settings: Settings) -> Path:
    return settings.infra_home / "demo" / "worker.pid"


def _is_demo_worker(pid: int) -> bool:
    args = pidfile.cmdline(pid)
    return args is not None and args[1:] == _WORKER_ARGS and pidfile.is_alive(pid)


def _running_pid(settings: Settings) -> int | None:
    """The demo worker's pid when it runs; a stale pid file (the same checks as ``infra``:
    garbage, process gone or a zombie, or the pid now another program's) is removed."""
    pid = pidfile.read_pid(_pidfile(settings))
    if pid is not None and _is_demo_worker(pid):
        return pid
    pidfile.remove_pid(_pidfile(settings))
    return None


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while pidfile.is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def stop_worker(settings: Settings) -> int | None:
    """Stop the demo worker (SIGTERM, then SIGKILL); its pid, or None when none ran."""
    pid = _running_pid(settings)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, STOP_TIMEOUT_S):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _wait_gone(pid, KILL_WAIT_S):
            raise InfraError(f"the demo worker (pid {pid}) survived SIGKILL; stop it by hand")
    pidfile.remove_pid(_pidfile(settings))
    return pid


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return bool(json.loads(reply.read())["ok"])
    except OSError:
        return False


def _start_worker(settings: Settings) -> int:
    pid = _running_pid(settings)
    if pid is not None:
        click.echo(f"worker already running (pid {pid})")
        return pid
    folder = _pidfile(settings).parent
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "moodwatch", "worker"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pidfile.write_pid(_pidfile(settings), process.pid)
    click.echo(f"worker starting (pid {process.pid}, log {log})")
    deadline = time.monotonic() + 300
    while not _healthy(settings.worker_web_port):
        if process.poll() is not None:
            raise click.ClickException(f"the worker exited; see {log}")
        if time.monotonic() > deadline:
            raise click.ClickException(f"the worker did not become healthy in 5 minutes; see {log}")
        time.sleep(0.5)
    return process.pid


@click.group()
def demo() -> None:
    """Run the system on local services with the bundled sample stream."""


@demo.command()
@click.option(
    "--passes",
    type=click.IntRange(1, 100),
    default=4,
    show_default=True,
    help="How many times to feed the sample files (each pass gets new ids).",
)
def run(passes: int) -> None:
    """Start services and a worker, feed the samples, show what was indexed."""
    from elasticsearch import Elasticsearch

    from infra.services import ensure_running
    from models.registry import Registry
    from models.taxonomy import load_taxonomy
    from models.versions import ensure_default_version
    from stream.connections import elasticsearch
    from stream.feeder import ReadStats, Row, RowOptions, feed, read_file
    from stream.feeder import passes as loop_passes
    from stream.index_admin import create_templates
    from stream.index_layout import layout_for
    from stream.topics import ensure_topics

    settings = load_settings()
    click.secho("1/5 local Kafka and Elasticsearch", bold=True)
    ensure_running(settings)
    click.secho("2/5 model", bold=True)
    version = ensure_default_version(
        Registry(settings.registry_path),
        load_taxonomy(settings.taxonomy_path),
        settings.encoder_path,
    )
    click.echo(
        f"serving {version.id}: golden-set sentiment macro-F1 "
        f"{version.metrics.get('sentiment_macro_f1', float('nan')):.3f}, topic macro-F1 "
        f"{version.metrics.get('topic_macro_f1', float('nan')):.3f}"
    )
    client: Elasticsearch = elasticsearch(settings)
    layout = layout_for(settings)
    create_templates(client, layout)
    asyncio.run(ensure_topics(settings))
    click.secho("3/5 worker", bold=True)
    _start_worker(settings)
    before = _count(client, layout.messages_alias)

    click.secho(f"4/5 feeding the sample stream ({passes} passes)", bold=True)
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
    click.secho("5/5 indexing", bold=True)
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
    click.secho("\nThe worker keeps running in the background.", bold=True)
    click.echo("  more text:   moodwatch feed FILE --channel chat|news")
    click.echo(f"  metrics:     http://127.0.0.1:{settings.worker_web_port}/metrics")
    click.echo("  stop it all: make stop   (or: moodwatch demo stop)")
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
@click.option("--keep-services", is_flag=True, help="Stop only the worker.")
def stop(keep_services: bool) -> None:
    """Stop the demo worker and (unless --keep-services) Kafka and Elasticsearch."""
    settings = load_settings()
    pid = stop_worker(settings)
    click.echo(f"worker {pid} stopped" if pid is not None else "no demo worker was running")
    if not keep_services:
        from infra.services import down

        down(settings)
        click.echo("Kafka and Elasticsearch stopped")
