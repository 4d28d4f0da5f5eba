"""How much throughput a running worker loses while it hot-swaps a model version.

    python -m bench.swap_dip --swaps 3 --window 30

One real worker (the current model of ``MOODWATCH_REGISTRY_PATH``, copied into a private
registry) consumes a chat topic that is kept full: a feeder tops the backlog up whenever it
falls under ``--backlog`` messages, so the worker always has work and its indexing rate is its
capacity. Each swap re-registers the same weights as a new version (new id, new checksum),
promotes it and announces it on the private model-updates topic, as the retrain job does. The
worker then verifies, loads and warms the new version beside the old one and flips between two
batches: that work competes with scoring for the same cores, which is the dip measured here.

For each swap: messages indexed per second (``moodwatch_messages_indexed`` polled every second)
over the ``--window`` seconds before the announcement and the ``--window`` seconds after it;
the dip is ``1 − after / before``. Also the worst 5-second bin after the announcement, relative
to the rate before, and the seconds until ``/health`` shows the new version.

On a machine shared with other work the rate moves by itself, so before each swap the same
measurement runs once with no swap at all (a placebo): a swap's dip means something only
beside the placebo dips. Prints JSON, then a one-line summary with the median and spread of
both.

Needs Kafka and Elasticsearch (``moodwatch infra up``) and a current model in the registry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from models.registry import Registry
from moodwatch.settings import Settings, load_settings
from retrain.announce import announce
from stream.connections import elasticsearch, kafka_options
from tests.integration.streamkit import StreamRig, WorkerProcess, wait_for

BIN_S = 5.0
TEXTS = (
    "my parcel {i} never came and support does not answer",
    "thanks, the refund for order {i} arrived quickly",
    "cannot log in to my account since the update, error {i}",
    "the new phone case fits well, order {i}",
)
INDEXED = re.compile(r"^moodwatch_messages_indexed_total\{[^}]*\} ([0-9.e+]+)$", re.M)


def _env(token: str, registry: Path) -> dict[str, str]:
    return {
        "MOODWATCH_TOPIC_NEWS": f"sd-news-{token}",
        "MOODWATCH_TOPIC_CHAT": f"sd-chat-{token}",
        "MOODWATCH_TOPIC_DEAD_LETTER": f"sd-dead-{token}",
        "MOODWATCH_TOPIC_LABELS": f"sd-labels-{token}",
        "MOODWATCH_TOPIC_ALERTS": f"sd-alerts-{token}",
        "MOODWATCH_TOPIC_MODEL_UPDATES": f"sd-updates-{token}",
        "MOODWATCH_ES_INDEX_PREFIX": f"sd-{token}",
        "MOODWATCH_WORKER_GROUP": f"sd-workers-{token}",
        "MOODWATCH_REGISTRY_PATH": str(registry),
        "MOODWATCH_LOG_FORMAT": "json",
    }


async def _create_topics(settings: Settings, env: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        names = [v for k, v in env.items() if k.startswith("MOODWATCH_TOPIC_")]
        await admin.create_topics([NewTopic(n, 1, 1) for n in names])
    finally:
        await admin.close()


def indexed(worker: WorkerProcess) -> float:
    """Documents the worker has written so far (all channels)."""
    return sum(float(v) for v in INDEXED.findall(worker.metrics()))


class Feeder(threading.Thread):
    """Keeps at least ``backlog`` messages waiting for the worker until stopped."""

    def __init__(self, settings: Settings, topic: str, backlog: int, worker: WorkerProcess):
        super().__init__(daemon=True)
        self.settings, self.topic, self.backlog, self.worker = settings, topic, backlog, worker
        self.sent = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    async def _run(self) -> None:
        producer = AIOKafkaProducer(**kafka_options(self.settings), linger_ms=20)
        await producer.start()
        try:
            while not self.stop.is_set():
                done = await asyncio.to_thread(indexed, self.worker)
                if self.sent - done < self.backlog:
                    for _ in range(self.backlog):
                        self.sent += 1
                        text = TEXTS[self.sent % len(TEXTS)].format(i=self.sent)
                        body = {"id": f"sd-{self.sent}", "text": text}
                        await producer.send(self.topic, json.dumps(body).encode())
                    await producer.flush()
                await asyncio.sleep(1.0)
        finally:
            await producer.stop()


def copy_version(registry: Registry, source: str, note: str) -> str:
    """Register the files of ``source`` again as a new version (same weights, new id)."""
    with registry.stage() as staged:
        for item in registry.get(source).path.iterdir():
            if item.name not in ("version.json", "manifest.json"):
                copy = shutil.copytree if item.is_dir() else shutil.copy2
                copy(item, staged / item.name)
        return registry.commit(staged, source, {}, {}, note).id


def private_registry(source: Registry, work: Path) -> Registry:
    current = source.current()
    if current is None:
        raise SystemExit(f"no current model in {source.root}: run `moodwatch model train` first")
    registry = Registry(work / "registry")
    registry.versions_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(current.path, registry.versions_dir / current.id)
    registry.promote(current.id, reason="swap-dip base")
    return registry


def sample(worker: WorkerProcess, seconds: float, every: float = 1.0) -> list[tuple[float, float]]:
    """(monotonic time, documents indexed) every ``every`` s for ``seconds``."""
    points = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        points.append((time.monotonic(), indexed(worker)))
        time.sleep(max(0.0, every - (time.monotonic() - points[-1][0])))
    return points


def rate(points: list[tuple[float, float]]) -> float:
    (t0, n0), (t1, n1) = points[0], points[-1]
    return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0


def bins(points: list[tuple[float, float]], width: float = BIN_S) -> list[float]:
    """Messages/s in consecutive ``width``-second bins."""
    out, start = [], 0
    for i, (t, _) in enumerate(points):
        if t - points[start][0] >= width - 1e-6:
            out.append(rate(points[start : i + 1]))
            start = i
    return out


def measure_swap(
    settings: Settings,
    registry: Registry,
    worker: WorkerProcess,
    window: float,
    n: int,
    placebo: bool = False,
) -> dict[str, Any]:
    """Rates before and after a promotion (``placebo``: the same windows, nothing promoted)."""
    previous = registry.current_id()
    version = previous if placebo else copy_version(registry, previous or "", f"swap-dip {n}")
    before = sample(worker, window)
    announced = time.monotonic()
    if not placebo:
        registry.promote(version or "", reason=f"swap-dip {n}")
        announce(settings, "promoted", version or "", previous)
    swapped_at: list[float] = []

    def watch() -> None:
        while not swapped_at and time.monotonic() - announced < window * 4:
            if worker.health().get("model_version") == version:
                swapped_at.append(time.monotonic())
            time.sleep(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    if not placebo:
        watcher.start()
    after = sample(worker, window)
    if not placebo:
        watcher.join()
    r_before, r_after = rate(before), rate(after)
    worst = min(bins(after), default=r_after)
    return {
        "placebo": placebo,
        "version": version,
        "before_msg_s": round(r_before, 1),
        "after_msg_s": round(r_after, 1),
        "dip": round(1 - r_after / r_before, 3) if r_before else None,
        "worst_5s_bin_vs_before": round(worst / r_before, 3) if r_before else None,
        "bins_before": [round(b, 1) for b in bins(before)],
        "bins_after": [round(b, 1) for b in bins(after)],
        "swap_seen_after_s": round(swapped_at[0] - announced, 1) if swapped_at else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--swaps", type=int, default=3)
    parser.add_argument("--window", type=float, default=30.0, help="Seconds before and after.")
    parser.add_argument("--backlog", type=int, default=2000, help="Messages kept waiting.")
    parser.add_argument("--settle", type=float, default=10.0, help="Pause between swaps, s.")
    args = parser.parse_args(argv)

    base = load_settings()
    token = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="swap-dip-"))
    registry = private_registry(Registry(base.registry_path), work)
    env = _env(token, registry.root)
    settings = load_settings(
        **{
            **base.model_dump(),
            "topic_model_updates": env["MOODWATCH_TOPIC_MODEL_UPDATES"],
            "registry_path": registry.root,
        }
    )
    asyncio.run(_create_topics(settings, env))
    es = elasticsearch(settings)
    rig = StreamRig(settings, env, es, work)
    feeder: Feeder | None = None
    swaps: list[dict[str, Any]] = []
    try:
        worker = rig.start_worker("w0")
        feeder = Feeder(settings, env["MOODWATCH_TOPIC_CHAT"], args.backlog, worker)
        feeder.start()
        wait_for(lambda: indexed(worker) >= 200, 300, "the stream to flow")
        for n in range(1, args.swaps + 1):
            for placebo in (True, False):
                time.sleep(args.settle)
                swaps.append(measure_swap(settings, registry, worker, args.window, n, placebo))
                print(f"{'placebo' if placebo else 'swap'} {n}: {swaps[-1]}", file=sys.stderr)
                if feeder.error is not None:
                    raise feeder.error
        swaps_total = re.search(r"^moodwatch_model_swaps_total ([0-9.]+)$", worker.metrics(), re.M)
    finally:
        if feeder is not None:
            feeder.stop.set()
            feeder.join(timeout=30)
        rig.close()
        es.close()
        shutil.rmtree(work, ignore_errors=True)
    result: dict[str, Any] = {
        "bench": "swap_dip",
        "window_s": args.window,
        "rounds": swaps,
        "worker_swaps_total": float(swaps_total.group(1)) if swaps_total else None,
    }
    for kind, placebo in (("swap", False), ("placebo", True)):
        dips = [s["dip"] for s in swaps if s["placebo"] is placebo and s["dip"] is not None]
        result[f"{kind}_dip_median"] = round(statistics.median(dips), 3) if dips else None
        result[f"{kind}_dip_min"] = min(dips, default=None)
        result[f"{kind}_dip_max"] = max(dips, default=None)
    print(json.dumps(result, indent=2))
    print(
        f"swap dip: median {result['swap_dip_median']} (min {result['swap_dip_min']}, max "
        f"{result['swap_dip_max']}); placebo median {result['placebo_dip_median']} (min "
        f"{result['placebo_dip_min']}, max {result['placebo_dip_max']}); target < 0.10",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
