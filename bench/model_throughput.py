"""Messages per second of the model: the batched engine vs. the naive way vs. the FLOP bound.

One run compares, for short (chat-like) and long (news-like) synthetic texts:

1. the inference engine fed chunks of 1 .. 256 texts, one forward pass per chunk; and fed
   worker-sized chunks of 256 under a few token budgets, its default options among them (the
   budget splits a chunk into length-sorted passes, which cuts padding);
2. a ``transformers`` text-classification pipeline called one message at a time, on the same
   MiniLM encoder with a fresh 3-label head (the head is random; the arithmetic is the same);
3. the bound this machine's measured matmul rate puts on messages/s, from the encoder's
   matmul FLOPs per message, and the fraction of it the engine reaches.

Each device is measured at each compute precision the engine would use there: on a CPU with
native bf16 both fp32 and bf16 (the engine's ``auto``), each bounded by the matmul rate of its
own dtype; on CUDA fp16. The naive pipeline is always the tutorial way: fp32, one at a time.

Prints one JSON object on stdout, then a one-line summary. Progress goes to stderr.

    python -m bench.model_throughput            # ~3 minutes on 2 cores
    python -m bench.model_throughput --quick    # ~30 seconds
    python -m bench.model_throughput --registry var/registry   # the current registry version
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import transformers

from bench.flops import EncoderShape, MatmulRate, measure_matmul
from models.checkpoint import Checkpoint, load_checkpoint
from models.encoder import default_encoder_path, load_encoder
from models.inference import (
    EngineOptions,
    InferenceEngine,
    compute_dtype,
    cpu_layout,
    plan_call,
    resolve_device,
)
from models.registry import Registry
from models.taxonomy import load_taxonomy
from models.training import new_classifier, seed_everything

MAX_LENGTH = 128  # the engine's default truncation; the naive pipeline gets the same
TARGET_SPEEDUP = 3.0  # batched short-text throughput vs. naive
TARGET_BOUND_FRACTION = 0.60  # batched throughput vs. the FLOP bound


@dataclass(frozen=True)
class Plan:
    """How much to measure: sizes of the text sets and how often each timing is repeated."""

    short_n: int
    long_n: int
    naive_short_n: int
    naive_long_n: int
    repeats: int
    batch_sizes: tuple[int, ...]  # one forward pass per chunk of this many texts
    budgets: tuple[int, ...]  # token budgets tried with worker-sized chunks of 256
    matmul_sizes: tuple[int, ...]
    threads: int | None = None  # CPU cores for the engine and the naive pipeline; None = all


FULL = Plan(512, 256, 200, 100, 3, (1, 8, 32, 128, 256), (1024, 2048, 8192), (1024, 2048))
QUICK = Plan(192, 96, 60, 30, 2, (1, 32), (1024, 2048), (1024,))
WORKER_CHUNK = 256


# -- synthetic texts -------------------------------------------------------------------------

_CHAT_OPENERS = ["hi", "hello", "hey there", "good morning", "excuse me", "quick question", "ugh"]
_CHAT_PHRASES = [
    "my parcel still has not arrived",
    "the app keeps crashing when I open it",
    "I was charged twice for one order",
    "can I get a refund for the blue jacket",
    "the tracking number does not work",
    "I cannot log in since the update",
    "the password reset e-mail never comes",
    "the headphones broke after two days",
    "thanks a lot, that solved it",
    "the delivery was really fast",
    "where is my invoice for last month",
    "the size is wrong, can I exchange it",
    "your website shows an error at checkout",
    "the courier left it at the wrong door",
    "I love the new colour",
    "please cancel my subscription",
    "the verification code expired again",
    "it works great, well made",
]
_CHAT_TAILS = ["", "", "!", "?", " :(", " asap please", " thanks", " order 48213"]

_NEWS_SUBJECTS = [
    "The central bank",
    "Shares of the chip maker",
    "The government",
    "Oil prices",
    "The software company",
    "Investors",
    "The finance minister",
    "Union leaders",
    "Regional officials",
    "The retailer",
    "Researchers at the university",
    "The airline",
]
_NEWS_VERBS = [
    "raised its forecast for",
    "warned about",
    "announced plans to cut",
    "reported strong demand for",
    "fell sharply after news of",
    "rallied on hopes of",
    "delayed a decision on",
    "agreed to review",
    "questioned the cost of",
    "signalled support for",
]
_NEWS_OBJECTS = [
    "interest rates",
    "next year's budget",
    "its cloud business",
    "the merger with a rival",
    "consumer spending",
    "the new trade agreement",
    "energy subsidies",
    "quarterly earnings",
    "a data breach affecting millions of customers",
    "the election result",
    "wage growth",
    "the rollout of artificial intelligence tools",
]
_NEWS_CLAUSES = [
    "according to people familiar with the matter",
    "as inflation stayed above the official target for a third month",
    "while analysts expect volatility to persist into the summer",
    "after a week of heavy losses on European markets",
    "despite pressure from opposition lawmakers",
    "in a statement published late on Tuesday",
    "citing weaker demand in its largest overseas markets",
    "amid growing concern over supply chains and shipping costs",
]


def chat_text(rng: random.Random) -> str:
    words: list[str] = [rng.choice(_CHAT_OPENERS) + ","]
    target = rng.randint(7, 15)
    while len(words) < target:
        words.extend(rng.choice(_CHAT_PHRASES).split())
    return " ".join(words[: target + 2]) + rng.choice(_CHAT_TAILS)


def news_text(rng: random.Random) -> str:
    target = rng.randint(45, 90)
    sentences: list[str] = []
    count = 0
    while count < target:
        sentence = (
            f"{rng.choice(_NEWS_SUBJECTS)} {rng.choice(_NEWS_VERBS)} {rng.choice(_NEWS_OBJECTS)}"
            f" {rng.choice(_NEWS_CLAUSES)}."
        )
        sentences.append(sentence)
        count += len(sentence.split())
    return " ".join(sentences)


def synthetic_texts(kind: str, n: int, seed: int) -> list[str]:
    """``n`` seeded texts: ``short`` chat messages (~10-20 tokens) or ``long`` news (~60-120)."""
    rng = random.Random(f"{kind}-{seed}")
    compose = chat_text if kind == "short" else news_text
    return [compose(rng) for _ in range(n)]


# -- timing ----------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def time_rounds(runs: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each run, ``repeats`` times, round-robin.

    Round-robin rather than one contestant after another: when other work comes and goes on the
    machine, every contestant shares the disturbance instead of one of them taking all of it.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return times


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass(frozen=True)
class EngineConfig:
    """How the engine is driven: ``predict`` gets ``chunk`` texts at a time, with ``options``."""

    label: str
    chunk: int
    options: EngineOptions

    def passes(self, tokenizer: Any, texts: Sequence[str]) -> list[tuple[int, int]]:
        """(rows, padded width) of every forward pass, planned exactly as the engine plans them."""
        out: list[tuple[int, int]] = []
        streams, _ = cpu_layout(resolve_device(self.options.device), self.options)
        for part in _chunks(texts, self.chunk):
            lengths = token_lengths(tokenizer, part, self.options.max_length)
            budget, most = self.options.token_budget, self.options.max_batch
            for rows in plan_call(lengths, budget, most, streams):
                out.append((len(rows), max(lengths[i] for i in rows)))
        return out


def engine_configs(
    plan: Plan, n: int, device: str, precision: str, threads: int | None
) -> list[EngineConfig]:
    configs = [
        # A budget of chunk x max_length never splits a chunk: exactly one pass per predict call.
        EngineConfig(
            f"batch {b}",
            b,
            EngineOptions(device, MAX_LENGTH, b * MAX_LENGTH, b, threads, precision=precision),
        )
        for b in plan.batch_sizes
        if b <= n
    ]
    defaults = EngineOptions()
    chunk = min(WORKER_CHUNK, n)
    for budget in plan.budgets:
        label = f"chunk {chunk}, budget {budget}"
        if budget == defaults.token_budget:
            label += " (engine defaults)"
        options = EngineOptions(
            device, MAX_LENGTH, budget, defaults.max_batch, threads, precision=precision
        )
        configs.append(EngineConfig(label, chunk, options))
    return configs


def engine_run(
    checkpoint: Checkpoint, version: str, texts: Sequence[str], config: EngineConfig
) -> Callable[[], None]:
    """A warmed-up engine scoring ``texts`` in chunks, as one call."""
    engine = InferenceEngine(checkpoint, version, checkpoint.taxonomy, config.options)
    engine.warm_up(rounds=1)
    channels = ["chat"] * len(texts)
    chunk = config.chunk

    def run(count: int = len(texts)) -> None:
        for start in range(0, count, chunk):
            engine.predict(texts[start : start + chunk], channels[start : start + chunk])

    run(max(chunk, 16))  # warm up on this configuration's own shapes (allocator, kernels)
    return run


def naive_run(pipe: Any, texts: Sequence[str], threads: int) -> Callable[[], None]:
    """The pipeline scoring ``texts`` one call per message, warmed up, on every core given."""

    def run(count: int = len(texts)) -> None:
        torch.set_num_threads(threads)  # the engines' set-up may have lowered it
        for text in texts[:count]:
            pipe(text, truncation=True, max_length=MAX_LENGTH)

    run(5)
    return run


# -- the model under test ----------------------------------------------------------------------


def bench_checkpoint(registry: Path | None) -> tuple[Checkpoint, str, str]:
    """The classifier to time: a fresh untrained one, or the registry's current version."""
    if registry is None:
        seed_everything(0)
        encoder, tokenizer = load_encoder(None)
        taxonomy = load_taxonomy()
        classifier = new_classifier(encoder, tokenizer, taxonomy)
        source = "untrained classifier over the packaged MiniLM-L6"
        return Checkpoint(classifier, tokenizer, taxonomy), "bench", source
    store = Registry(registry)
    current = store.current()
    if current is None:
        raise SystemExit(f"no current model version in {registry}; run `moodwatch model train`")
    store.verify(current)
    return load_checkpoint(current.path), current.id, f"registry {registry}, version {current.id}"


def naive_pipeline(device: str) -> Any:
    """The way most tutorials do it: a pipeline, one call per message."""
    folder = str(default_encoder_path())
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=3, local_files_only=True
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return transformers.pipeline(
        "text-classification", model=model, tokenizer=tokenizer, device=torch.device(device)
    )


def token_lengths(tokenizer: Any, texts: Sequence[str], max_length: int = MAX_LENGTH) -> list[int]:
    """Tokens per text as the model sees them: special tokens included, truncation applied."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return [len(ids) for ids in encoded]


# -- one set of texts on one device --------------------------------------------------------------


def measure_set(
    kind: str,
    texts: list[str],
    naive_n: int,
    checkpoint: Checkpoint,
    version: str,
    device: str,
    precision: str,
    plan: Plan,
    pipe: Any,
    shape: EncoderShape,
) -> dict[str, Any]:
    """Raw timings and FLOP counts for one set; :func:`judge` adds the bound once it is known."""
    lengths = token_lengths(checkpoint.tokenizer, texts)
    n = len(texts)
    rows: list[dict[str, Any]] = []
    runs: dict[str, Callable[[], None]] = {}
    timed: dict[tuple[int, ...], str] = {}  # forward passes -> label of the config timing them
    for config in engine_configs(plan, n, device, precision, plan.threads):
        passes = config.passes(checkpoint.tokenizer, texts)
        widths = [width for count, width in passes for _ in range(count)]
        row: dict[str, Any] = {
            "config": config.label,
            "chunk": config.chunk,
            "max_batch": config.options.max_batch,
            "token_budget": config.options.token_budget,
            "passes": len(passes),
            "padded_tokens_mean": round(statistics.fmean(widths), 1),
            "mflop_per_msg_padded": round(shape.flops(widths) / n / 1e6, 1),
        }
        # The same forward passes as a configuration already here: same work, timed once.
        signature = (config.chunk, *(w for pair in passes for w in pair))
        if signature in timed:
            row["same_passes_as"] = timed[signature]
        else:
            timed[signature] = config.label
            runs[config.label] = engine_run(checkpoint, version, texts, config)
        rows.append(row)
    naive_label = "naive pipeline, one at a time"
    cores = plan.threads or len(os.sched_getaffinity(0))
    runs[naive_label] = naive_run(pipe, texts[:naive_n], cores)
    _log(f"  {device} {kind}: timing {len(runs)} contestants, {plan.repeats} rounds")
    times = time_rounds(runs, plan.repeats)

    for row in rows:
        seconds = times[row.get("same_passes_as", row["config"])]
        row["msg_per_s"] = round(n / statistics.median(seconds), 1)
        row["seconds_median"] = round(statistics.median(seconds), 3)
        row["seconds"] = [round(t, 3) for t in seconds]
        _log(f"  {device} {kind:<5} {row['config']:<42} {row['msg_per_s']:7.1f} msg/s")
    seconds = times[naive_label]
    naive = {
        "n": naive_n,
        "tokens_mean": round(statistics.fmean(lengths[:naive_n]), 1),
        "mflop_per_msg": round(shape.flops(lengths[:naive_n]) / naive_n / 1e6, 1),
        "msg_per_s": round(naive_n / statistics.median(seconds), 1),
        "seconds_median": round(statistics.median(seconds), 3),
        "seconds": [round(t, 3) for t in seconds],
    }
    _log(f"  {device} {kind:<5} {naive_label:<42} {naive['msg_per_s']:7.1f} msg/s")
    return {
        "n": n,
        "tokens_mean": round(statistics.fmean(lengths), 1),
        "tokens_min": min(lengths),
        "tokens_max": max(lengths),
        "mflop_per_msg_unpadded": round(shape.flops(lengths) / n / 1e6, 1),
        "engine": rows,
        "naive": naive,
    }


def judge(result: dict[str, Any], gflops: float) -> None:
    """Add the FLOP bound, the fraction of it each configuration reaches, and the headlines."""
    useful = result["mflop_per_msg_unpadded"] * 1e6
    flop_rate = gflops * 1e9
    result["bound_msg_per_s_unpadded"] = round(flop_rate / useful, 1)
    for row in result["engine"]:
        padded = row["mflop_per_msg_padded"] * 1e6
        row["bound_msg_per_s_padded"] = round(flop_rate / padded, 1)
        row["bound_fraction_padded"] = round(row["msg_per_s"] * padded / flop_rate, 3)
        row["bound_fraction_unpadded"] = round(row["msg_per_s"] * useful / flop_rate, 3)
    naive = result["naive"]
    naive["bound_fraction"] = round(
        naive["msg_per_s"] * naive["mflop_per_msg"] * 1e6 / flop_rate, 3
    )
    best = max(result["engine"], key=lambda r: r["msg_per_s"])
    defaults = next(r for r in result["engine"] if "defaults" in r["config"])
    result["best"] = _headline(best, naive["msg_per_s"])
    result["engine_defaults"] = _headline(defaults, naive["msg_per_s"])


def _headline(row: dict[str, Any], naive_rate: float) -> dict[str, Any]:
    keys = (
        "config",
        "msg_per_s",
        "padded_tokens_mean",
        "bound_msg_per_s_padded",
        "bound_fraction_padded",
        "bound_fraction_unpadded",
    )
    speedup = round(row["msg_per_s"] / naive_rate, 2)
    return {**{k: row[k] for k in keys}, "speedup_vs_naive": speedup}


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def matmul_rates(device: torch.device, precision: str, sizes: Sequence[int]) -> list[MatmulRate]:
    # Each precision is bounded by the matmul rate of its own dtype on its own device.
    return [measure_matmul(size, device, DTYPES[precision]) for size in sizes]


def precisions_for(device: str, requested: str) -> list[str]:
    """Precisions to time on ``device``: what the engine's ``auto`` picks, and fp32 beside it."""
    if requested != "auto":
        return [requested]
    chosen = compute_dtype(torch.device(device), "auto")
    picked = {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(chosen) if chosen else None
    return ["fp32", picked] if picked and device == "cpu" else [picked or "fp32"]


def measure_device(
    device: str, precision: str, checkpoint: Checkpoint, version: str, plan: Plan, seed: int
) -> dict[str, Any]:
    dev = torch.device(device)
    label = f"{device}/{precision}"
    before = matmul_rates(dev, precision, plan.matmul_sizes)
    _log(f"{label}: matmul " + ", ".join(f"{r.size}: {r.gflops} GFLOP/s" for r in before))
    shape = EncoderShape.from_config(checkpoint.classifier.encoder.config)
    pipe = naive_pipeline(device)
    sets = {
        kind: measure_set(
            kind,
            synthetic_texts(kind, n, seed),
            naive_n,
            checkpoint,
            version,
            device,
            precision,
            plan,
            pipe,
            shape,
        )
        for kind, n, naive_n in (
            ("short", plan.short_n, plan.naive_short_n),
            ("long", plan.long_n, plan.naive_long_n),
        )
    }
    # Measured again at the end, and the better rate kept: other work on the machine only ever
    # lowers it, and a higher bound never flatters the engine. A big gap flags a noisy run.
    after = matmul_rates(dev, precision, plan.matmul_sizes)
    _log(f"{label}: matmul again " + ", ".join(f"{r.size}: {r.gflops} GFLOP/s" for r in after))
    peak = max(r.gflops for r in (*before, *after))
    for result in sets.values():
        judge(result, peak)
    return {
        "device": device,
        "precision": precision,
        "matmul_before": [asdict(r) for r in before],
        "matmul_after": [asdict(r) for r in after],
        "peak_gflops": peak,
        "matmul_after_over_before": round(
            min(x.gflops / y.gflops for x, y in zip(after, before, strict=True)), 3
        ),
        "mflop_per_token_linear": round(2 * shape.linear_weights / 1e6, 2),
        "sets": sets,
    }


# -- targets and output ------------------------------------------------------------------------


def targets(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, judged on this run's best batched configuration; a miss stays a miss.

    ``engine_defaults`` shows the same number for the engine as a worker runs it by default.
    """
    checks = [
        ("short", "batched engine / naive pipeline", TARGET_SPEEDUP, "speedup_vs_naive"),
        (
            "short",
            "fraction of FLOP bound (padded)",
            TARGET_BOUND_FRACTION,
            "bound_fraction_padded",
        ),
        ("long", "fraction of FLOP bound (padded)", TARGET_BOUND_FRACTION, "bound_fraction_padded"),
    ]
    out = []
    for kind, name, target, key in checks:
        best, defaults = run["sets"][kind]["best"], run["sets"][kind]["engine_defaults"]
        out.append(
            {
                "device": run["device"],
                "precision": run["precision"],
                "target": f"{kind}: {name}",
                "min": target,
                "measured": best[key],
                "config": best["config"],
                "met": best[key] >= target,
                "engine_defaults": defaults[key],
            }
        )
    return out


def disturbances(load_before: float, runs: list[dict[str, Any]]) -> list[str]:
    """Signs that other work shared the machine: its numbers then say less than they seem to."""
    out = []
    if load_before >= 0.5:
        out.append(f"load average was {load_before:.2f} before the run started")
    for run in runs:
        ratio = run["matmul_after_over_before"]
        if not 0.85 <= ratio <= 1.15:
            where = f"{run['device']}/{run['precision']}"
            out.append(f"{where} matmul rate changed by {ratio - 1:+.0%} during the run")
    return out


def summary_line(run: dict[str, Any]) -> str:
    parts = []
    for kind in ("short", "long"):
        data = run["sets"][kind]
        best, naive = data["best"], data["naive"]
        parts.append(
            f"{kind}: batched {best['msg_per_s']:.0f} msg/s = {best['speedup_vs_naive']:.1f}x naive"
            f" ({naive['msg_per_s']:.0f} msg/s), {best['bound_fraction_padded']:.0%} of FLOP bound"
            f" {best['bound_msg_per_s_padded']:.0f} msg/s [{best['config']}]"
        )
    return f"[{run['device']} {run['precision']}] " + "; ".join(parts)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.model_throughput",
        description="Messages/s of the inference engine vs. a naive pipeline vs. the FLOP bound.",
    )
    parser.add_argument(
        "--registry",
        type=Path,
        default=None,
        help="time the current version of this registry (default: untrained)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sets (~30 s on 2 cores)")
    parser.add_argument(
        "--n", type=int, default=None, help="short texts for the engine (long: half; naive: ~40%%)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per configuration")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto = CPU, and CUDA too when present",
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="auto = what the engine picks per device, plus fp32 on CPU for comparison",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic texts")
    return parser.parse_args(argv)


def choose_plan(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else FULL
    if args.n:
        short_n, long_n = max(8, args.n), max(8, args.n // 2)
        plan = replace(
            plan,
            short_n=short_n,
            long_n=long_n,
            naive_short_n=max(5, short_n * 2 // 5),
            naive_long_n=max(5, long_n * 2 // 5),
        )
    if args.repeats:
        plan = replace(plan, repeats=max(1, args.repeats))
    if args.threads:
        plan = replace(plan, threads=args.threads)
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = choose_plan(args)
    started = time.perf_counter()
    load_before = os.getloadavg()
    # Quiet the naive model's "newly initialised head" warning: the random head is intended.
    logging.getLogger("transformers").setLevel(logging.ERROR)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    else:
        devices = [args.device]

    load_started = time.perf_counter()
    checkpoint, version, source = bench_checkpoint(args.registry)
    load_s = time.perf_counter() - load_started
    first = InferenceEngine(
        checkpoint,
        version,
        checkpoint.taxonomy,
        EngineOptions(device=devices[0], threads=args.threads, precision=args.precision),
    )
    warm_up_s = first.warm_up()
    first.retire()
    _log(f"model: {source}; load {load_s:.1f} s, warm-up {warm_up_s:.1f} s")

    runs = [
        measure_device(device, precision, checkpoint, version, plan, args.seed)
        for device in devices
        for precision in precisions_for(device, args.precision)
    ]
    report: dict[str, Any] = {
        "benchmark": "model_throughput",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "host": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "cores": plan.threads or len(os.sched_getaffinity(0)),
            "engine_streams": first.streams,
            "interop_threads": torch.get_num_interop_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_avg_1m_before": round(load_before[0], 2),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
        },
        "model": {
            "source": source,
            "version": version,
            "load_s": round(load_s, 2),
            "warm_up_s": round(warm_up_s, 2),
            "warm_up_precision": first.precision,
            "max_length": MAX_LENGTH,
        },
        "plan": {**asdict(plan), "seed": args.seed, "quick": args.quick},
        "notes": [
            "msg_per_s: texts / median seconds over `repeats` timed runs, after a warm-up",
            "bound_fraction_padded: FLOPs of the rows the engine actually computes (each padded "
            "to the longest row of its forward pass) x msg/s / matmul peak; targets use this",
            "bound_fraction_unpadded: useful FLOPs only (each text at its own length)",
            "best: the fastest engine configuration of this run",
            "tokens include [CLS] and [SEP]",
        ],
        "runs": runs,
        "disturbed": disturbances(load_before[0], runs),
        "targets": [t for run in runs for t in targets(run)],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))
    for run in runs:
        print(summary_line(run))
    if report["disturbed"]:
        print("disturbed run (numbers are noisy): " + "; ".join(report["disturbed"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
