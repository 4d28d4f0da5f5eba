"""Messages/s of one worker vs. two workers in one consumer group, on the same two cores.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m bench.scale_out   # ~3 min on 2 quiet cores
    python -m bench.scale_out --n 2000 --rounds 3 --partitions 4 --registry var/registry

Two setups, each with its own topics, consumer group and index prefix, run side by side so that
every round times both under the same conditions:

* **one**: one ``moodwatch worker`` with ``MOODWATCH_TORCH_THREADS=2`` (and ``OMP_NUM_THREADS=2``):
  two forward passes side by side, one core each — the default layout on a 2-core machine;
* **two**: two workers with ``MOODWATCH_TORCH_THREADS=1`` (and ``OMP_NUM_THREADS=1``) each, so
  workers × threads is still two cores, and the group splits the partitions between them.

All three workers start at once and are warmed up. Then, for ``--rounds`` rounds, the same N
seeded messages (``bench.pipeline``'s traffic) go as fast as the producer goes into one setup's
topics, and the clock runs from the first send until the setup's alias counts them all (as
``bench.pipeline``'s end-to-end phase, whose code this reuses); then the other setup. The order
alternates (one-two, two-one, ...), so a disturbance does not always hit the same setup. Each
setup reports its median msg/s and spread (max - min), each worker's share of the messages and
its model-busy fraction, and each round's CPU split (``other_cores_busy`` is everyone else on
the machine; a round above 0.2 core is listed under ``disturbed``).

Why two workers cannot be faster here: the model is the bottleneck (``bench.pipeline``: the
inference thread is busy ~98 % of the time) and one worker already keeps both cores busy with two
passes side by side. A second worker splits the same two cores; it adds an event loop, a Kafka
consumer, bulk requests and a second copy of the model, and buys no arithmetic. Workers scale with
cores (or GPUs), not with processes: see docs/scaling.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from elastic_transport import TransportError
from elasticsearch import ApiError

from bench.pipeline import (
    DISTURBED_CORES,
    WORKER_START_S,
    RunNames,
    WorkerProcess,
    cleanup,
    machine,
    machine_busy_seconds,
    measure_pipeline,
    metric_delta,
    own_cpu_seconds,
    process_cpu_seconds,
    service_pids,
    serving_registry,
    take,
    traffic,
    warm_up,
    worker_env,
)
from bench.pipeline import _progress as progress
from moodwatch.errors import MoodwatchError
from moodwatch.settings import Settings, load_settings
from stream.connections import elasticsearch
from stream.topics import ensure_topics

CORES = 2  # workers x torch threads, in both setups
WARM_UP_N = 300


@dataclass
class Setup:
    """One consumer group on its own topics: ``workers`` processes, ``threads`` cores each."""

    label: str
    workers: int
    threads: int
    names: RunNames = field(default_factory=lambda: RunNames(uuid.uuid4().hex[:8]))
    processes: list[WorkerProcess] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    peak_rss_mb: list[int] = field(default_factory=list)

    def settings(self, partitions: int) -> Settings:
        return load_settings(**self.names.overrides(), topic_partitions=partitions)

    def env(self, registry: Path, home: Path, partitions: int) -> dict[str, str]:
        threads = str(self.threads)
        return worker_env(self.names, registry, home) | {
            "MOODWATCH_TOPIC_PARTITIONS": str(partitions),
            "MOODWATCH_TORCH_THREADS": threads,
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        }

    def check(self) -> None:
        for process in self.processes:
            process.check()

    def wait_idle(self) -> None:
        for process in self.processes:
            process.wait_idle(60.0)


class CpuSplit:
    """Cores busy during a round: the benchmark, the setup's workers, Kafka + Elasticsearch, and
    everyone else (``bench.pipeline.Share`` for several workers)."""

    def __init__(
        self,
        services: Sequence[int],
        workers: Sequence[WorkerProcess],
        idle: Sequence[WorkerProcess],
    ) -> None:
        self.services = list(services)
        self.workers, self.idle = [w.pid for w in workers], [w.pid for w in idle]
        self.wall, self.machine = time.monotonic(), machine_busy_seconds()
        self.own = own_cpu_seconds()
        pids = self.services + self.workers + self.idle
        self.started = {pid: process_cpu_seconds(pid) for pid in pids}

    def report(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall
        used = {p: max(0.0, process_cpu_seconds(p) - s) for p, s in self.started.items()}
        workers = sum(used[p] for p in self.workers)
        idle = sum(used[p] for p in self.idle)
        services = sum(used[p] for p in self.services)
        own = own_cpu_seconds() - self.own
        other = machine_busy_seconds() - self.machine - own - workers - idle - services
        return {
            "wall_s": round(wall, 1),
            "bench_cores_busy": round(own / wall, 2),
            "workers_cores_busy": round(workers / wall, 2),
            "other_setup_idle_workers_cores_busy": round(idle / wall, 2),
            "kafka_es_cores_busy": round(services / wall, 2),
            "other_cores_busy": round(max(0.0, other) / wall, 2),
        }


def time_round(
    setup: Setup,
    settings: Settings,
    rows: list[dict[str, Any]],
    baseline: int,
    services: list[int],
    idle: Sequence[WorkerProcess],
) -> dict[str, Any]:
    """Send ``rows`` into the setup's topics; msg/s until all are searchable, and who did what.
    ``idle`` are the other setup's workers: waiting, but on the same cores."""
    before = [w.metrics() for w in setup.processes]
    split = CpuSplit(services, setup.processes, idle)
    result = asyncio.run(
        measure_pipeline(settings, setup.names, setup.processes[0], rows, baseline)
    )
    result["cpu_share"] = split.report()
    # Messages per CPU-second the workers got: what they do with the CPU they are given, which
    # other work on the machine changes far less than msg/s.
    busy = result["cpu_share"]["workers_cores_busy"]
    result["msg_per_worker_cpu_s"] = round(result["msg_per_s"] / busy, 1) if busy else None
    setup.check()
    setup.wait_idle()
    seconds = result["seconds_to_searchable"]
    result["workers"] = [
        {
            "indexed": int(metric_delta(b, after, "moodwatch_messages_indexed_total")),
            "inference_busy_fraction": round(
                metric_delta(b, after, "moodwatch_inference_seconds_sum") / seconds, 3
            ),
        }
        for b, after in zip(before, [w.metrics() for w in setup.processes], strict=True)
    ]
    return result


def summarise(setup: Setup) -> dict[str, Any]:
    rates = [run["msg_per_s"] for run in setup.runs]
    per_cpu = [run["msg_per_worker_cpu_s"] for run in setup.runs if run["msg_per_worker_cpu_s"]]
    indexed = [
        sum(run["workers"][i]["indexed"] for run in setup.runs) for i in range(setup.workers)
    ]
    total = sum(indexed) or 1
    return {
        "workers": setup.workers,
        "torch_threads_each": setup.threads,
        "msg_per_s_runs": rates,
        "msg_per_s_median": round(statistics.median(rates), 1),
        "msg_per_s_spread": round(max(rates) - min(rates), 1),
        "msg_per_worker_cpu_s_median": round(statistics.median(per_cpu), 1) if per_cpu else None,
        "msg_per_worker_cpu_s_spread": round(max(per_cpu) - min(per_cpu), 1) if per_cpu else None,
        "share_of_messages": [round(n / total, 3) for n in indexed],
        "peak_rss_mb": setup.peak_rss_mb,
        "runs": setup.runs,
    }


def disturbed(setups: Sequence[Setup]) -> list[str]:
    return [
        f"{s.label} round {i + 1}: {run['cpu_share']['other_cores_busy']} cores"
        for s in setups
        for i, run in enumerate(s.runs)
        if run["cpu_share"]["other_cores_busy"] > DISTURBED_CORES
    ]


def summary_line(report: dict[str, Any]) -> str:
    one, two = report["one"], report["two"]
    line = (
        f"1 worker x {one['torch_threads_each']} threads {one['msg_per_s_median']:.0f} msg/s "
        f"(spread {one['msg_per_s_spread']:.0f}); 2 workers x {two['torch_threads_each']} thread "
        f"{two['msg_per_s_median']:.0f} msg/s (spread {two['msg_per_s_spread']:.0f}, shares "
        f"{' / '.join(f'{s:.2f}' for s in two['share_of_messages'])}); "
        f"2 / 1 = {report['two_vs_one']:.2f} on {report['machine']['nproc']} cores; per worker "
        f"CPU-second {one['msg_per_worker_cpu_s_median']} vs {two['msg_per_worker_cpu_s_median']}"
    )
    if report["disturbed"]:
        line += "; DISTURBED: " + ", ".join(report["disturbed"])
    return line


def run(
    n: int, rounds: int, partitions: int, seed: int, registry_arg: Path | None
) -> dict[str, Any]:
    from infra.services import ensure_running

    load_before, started_at = os.getloadavg(), datetime.now(UTC)
    setups = [Setup("one", 1, CORES), Setup("two", 2, CORES // 2)]
    settings = {s.label: s.settings(partitions) for s in setups}
    ensure_running(settings["one"])
    services = service_pids(settings["one"])
    registry, version = serving_registry(settings["one"], registry_arg)
    home = Path(tempfile.mkdtemp(prefix="moodwatch-scale-out-"))
    es = elasticsearch(settings["one"])
    try:
        for s in setups:
            asyncio.run(ensure_topics(settings[s.label]))
            env = s.env(registry.root, home, partitions)
            s.processes = [
                WorkerProcess(env, home / f"{s.label}-{i}.log") for i in range(s.workers)
            ]
            progress(f"{s.label}: {s.workers} worker(s) x {s.threads} thread(s), {s.names.prefix}")
        with ThreadPoolExecutor(3) as pool:  # every worker loads its model at once
            list(
                pool.map(
                    lambda w: w.wait_healthy(WORKER_START_S),
                    [w for s in setups for w in s.processes],
                )
            )
        for s in setups:
            warm = take(traffic(seed, f"warm-{s.label}"), WARM_UP_N)
            asyncio.run(warm_up(settings[s.label], s.names, s.processes[0], warm))
            s.wait_idle()
        progress("warmed up")

        baseline = WARM_UP_N
        for r in range(rounds):
            rows = take(traffic(seed, f"r{r}"), n)
            for s in setups if r % 2 == 0 else reversed(setups):
                progress(f"round {r + 1}/{rounds}: {s.label}, {n} messages")
                idle = [w for other in setups if other is not s for w in other.processes]
                copies = [dict(x) for x in rows]  # sending stamps created_at into each row
                result = time_round(s, settings[s.label], copies, baseline, services, idle)
                s.runs.append(result)
                progress(f"  {result['msg_per_s']} msg/s")
            baseline += n
        for s in setups:
            s.peak_rss_mb = [round(w.memory_kib()["VmHWM"] / 1024) for w in s.processes]
    finally:
        progress("stopping the workers")
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(WorkerProcess.stop, [w for s in setups for w in s.processes]))
        for s in setups:
            cleanup(settings[s.label], es, s.names)
        es.close()
        shutil.rmtree(home, ignore_errors=True)

    one, two = summarise(setups[0]), summarise(setups[1])
    report: dict[str, Any] = {
        "benchmark": "scale_out",
        "started_at": started_at.isoformat(),
        "duration_s": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "machine": machine(load_before),
        "config": {
            "n": n,
            "rounds": rounds,
            "partitions": partitions,
            "seed": seed,
            "warm_up_n": WARM_UP_N,
            "batch_max_size": settings["one"].batch_max_size,
            "batch_token_budget": settings["one"].batch_token_budget,
            "registry": str(registry.root),
            "model_version": version,
        },
        "one": one,
        "two": two,
        "two_vs_one": round(two["msg_per_s_median"] / one["msg_per_s_median"], 3),
        "notes": [
            "msg_per_s: N / (first send -> the setup's alias counts all N), as bench.pipeline",
            "both setups use 2 cores' worth of torch threads: one x 2, two x 1 each",
            "rounds alternate the order of the setups; the same N texts go to both in a round",
            "share_of_messages: each worker's part of the indexed messages over all rounds",
            "msg_per_worker_cpu_s: msg/s / cores the setup's workers used in the round; when other "
            "work takes the CPU (disturbed), compare this rather than msg/s",
            "the producer runs in the benchmark process on the same cores as the workers",
        ],
    }
    report["disturbed"] = disturbed(setups)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale_out", description="msg/s of 1 vs 2 workers on the same cores"
    )
    parser.add_argument("--n", type=int, default=4000, help="messages per round (default 4,000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per setup (default 3)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per input topic")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--registry", type=Path, help="model registry (default: the settings')")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        report = run(
            max(100, args.n), max(1, args.rounds), args.partitions, args.seed, args.registry
        )
    except MoodwatchError as exc:
        progress(f"failed: {exc}")
        return 1
    except (ApiError, TransportError, KafkaError) as exc:
        progress(f"failed: Kafka or Elasticsearch refused or dropped a request: {exc}")
        return 1
    print(json.dumps(report, indent=2))
    print(summary_line(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
