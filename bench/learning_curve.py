"""The learning curve: real labels streamed through the labels topic, a retrain after each step.

    python -m bench.learning_curve --steps 100,300,1000 [--data ../shared/data] [--work DIR]

Labels: ``tweeteval_sentiment`` rows with ``split`` = test as chat labels and
``twitter_financial_news`` rows with ``split`` = train as news labels, taken in a fixed shuffled
order; a step of N means N labels per channel in all (steps are cumulative).

How labels get message ids: each text is first written to the bench's own messages index as an
unscored message document (what a worker would have indexed, minus the prediction), then its
label goes through the real labels topic and is stored by :class:`stream.labels.LabelStore`
(validation, join with the message, labels index), driven by
:class:`stream.label_relay.LabelRelay`, which does what the worker's labels agent does. Feeding
the texts through the news/chat topics instead would spend the two shared cores on scoring
thousands of messages, which measures the worker, not the loop.

After each step the retrain job runs (gate included, shadow off: the bench's messages carry no
prediction) and every candidate, promoted or rejected, is scored on held-out data: ``tweeteval``
val, ``twitter_financial_news`` valid (three-way macro-F1), ``sst2_dev`` and ``uci_sentences``
(binary macro-F1: positive vs negative probability) and the golden set (per channel). The
throughput dip around a swap is measured by its own benchmark, ``bench.swap_dip`` (a worker
saturated with a backlog while versions are promoted): running a worker here would take the
cores the retrains are timed on.

Prints one JSON document (and writes it to ``--out``), then a one-line summary on stderr.
Needs Kafka and Elasticsearch (``moodwatch infra up``) and a current model in the registry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk

from bench.model_quality import binary_label, read_rows
from models.evaluation import evaluate, head_report
from models.examples import Example, seed_golden_set
from models.inference import EngineOptions
from models.registry import Registry
from models.taxonomy import load_taxonomy
from models.versions import load_engine
from moodwatch.settings import Settings, load_settings
from retrain.job import RetrainJob
from stream.connections import async_elasticsearch, elasticsearch, kafka_options
from stream.index_admin import create_templates
from stream.index_layout import layout_for
from stream.label_relay import LabelRelay
from stream.labels import Label, LabelStore, send_labels

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"  # ../shared/data
LABELER = "bench-annotator"


def _log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def load_sets(data: Path, eval_limit: int, seed: int) -> dict[str, list[Example]]:
    """Label pools (shuffled) and evaluation sets (a fixed sample of ``eval_limit``)."""
    rng = random.Random(seed)

    def split(folder: str, name: str, channel: str) -> list[Example]:
        rows = [r for r in read_rows(data / folder, None) if r.source.get("split") == name]
        return [Example(r.example.text, channel, r.example.sentiment) for r in rows]

    def sample(examples: list[Example]) -> list[Example]:
        examples = list(examples)
        rng.shuffle(examples)
        return examples[:eval_limit]

    chat_pool, news_pool = (
        split("tweeteval_sentiment", "test", "chat"),
        split("twitter_financial_news", "train", "news"),
    )
    rng.shuffle(chat_pool)
    rng.shuffle(news_pool)
    return {
        "chat_pool": chat_pool,
        "news_pool": news_pool,
        "tweeteval_val": sample(split("tweeteval_sentiment", "val", "chat")),
        "tfn_valid": sample(split("twitter_financial_news", "valid", "news")),
        "sst2_dev": sample([r.example for r in read_rows(data / "sst2_dev", None)]),
        "uci_sentences": sample([r.example for r in read_rows(data / "uci_sentences", None)]),
    }


def index_messages(
    es: Elasticsearch, settings: Settings, batch: Sequence[Example], ids: list[str]
) -> None:
    layout = layout_for(settings)
    now = datetime.now(UTC)
    actions = [
        {
            "_index": layout.messages_index(now),
            "_id": message_id,
            "_source": {
                "id": message_id,
                "text": example.text,
                "channel": example.channel,
                "source": "bench",
                "created_at": now.isoformat(),
            },
        }
        for message_id, example in zip(ids, batch, strict=True)
    ]
    bulk(es, actions, refresh="wait_for")


async def stream_step(
    settings: Settings, es: Elasticsearch, batch: list[Example], ids: list[str], group: str
) -> dict[str, Any]:
    taxonomy = load_taxonomy(settings.taxonomy_path)
    index_messages(es, settings, batch, ids)
    now = datetime.now(UTC)
    labels = [
        Label(message_id, LABELER, now, example.sentiment)
        for message_id, example in zip(ids, batch, strict=True)
    ]
    started = time.perf_counter()
    await send_labels(settings, labels)
    client = async_elasticsearch(settings)
    try:
        store = LabelStore(client, settings.es_index_prefix, taxonomy)
        await store.ensure_index()
        counts = dict(await LabelRelay(settings, store, group).run(len(labels)))
        await client.indices.refresh(index=store.index)
    finally:
        await client.close()
    return {**counts, "seconds": round(time.perf_counter() - started, 2)}


def score_version(
    registry: Registry, version: str, sets: dict[str, list[Example]]
) -> dict[str, Any]:
    engine = load_engine(registry, version, None, EngineOptions(device="cpu"))
    try:
        out: dict[str, Any] = {}
        for name in ("tweeteval_val", "tfn_valid"):
            out[name] = round(evaluate(engine, sets[name])["sentiment"]["macro_f1"], 4)
        for name in ("sst2_dev", "uci_sentences"):
            examples = [e for e in sets[name] if e.sentiment in ("negative", "positive")]
            predictions = engine.predict([e.text for e in examples], [None] * len(examples))
            truth = [e.sentiment or "" for e in examples]
            binary = [binary_label(p) for p in predictions]
            out[name] = round(head_report(truth, binary, [1.0] * len(truth))["macro_f1"], 4)
        out["golden"] = golden_summary(evaluate(engine, seed_golden_set()))
        return out
    finally:
        engine.retire()


def golden_summary(golden: dict[str, Any]) -> dict[str, Any]:
    """The golden-set numbers every curve row and variant reports: overall, per channel, per
    topic slice (sentiment macro-F1), and topic macro-F1."""
    return {
        "sentiment": round(golden["sentiment"]["macro_f1"], 4),
        "topic": round(golden["topic"]["macro_f1"], 4),
        **{
            f"{channel}_sentiment": round(heads["sentiment"]["macro_f1"], 4)
            for channel, heads in golden["slices"]["channel"].items()
        },
        "topic_slices_sentiment": {
            name: round(heads["sentiment"]["macro_f1"], 4)
            for name, heads in golden["slices"]["topic"].items()
            if "sentiment" in heads
        },
    }


def private_registry(source: Registry, work: Path) -> Registry:
    """A registry holding only the source's current version (the bench writes its own)."""
    current = source.current()
    if current is None:
        raise SystemExit(f"no current model in {source.root}: run `moodwatch model train` first")
    registry = Registry(work / "registry")
    if registry.current_id() is None:
        (work / "registry" / "versions").mkdir(parents=True, exist_ok=True)
        shutil.copytree(current.path, registry.versions_dir / current.id)
        registry.promote(current.id, reason="learning-curve base")
    return registry


def worst_slice_drop(base: dict[str, Any], now: dict[str, Any]) -> float:
    pairs = [(base[k], now[k]) for k in ("chat_sentiment", "news_sentiment", "sentiment", "topic")]
    pairs += [
        (base["topic_slices_sentiment"][k], v)
        for k, v in now["topic_slices_sentiment"].items()
        if k in base["topic_slices_sentiment"]
    ]
    return round(float(min(after - before for before, after in pairs)), 4)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="100,300,1000", help="Cumulative labels per channel.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, help="Keep state here to continue in a later run.")
    parser.add_argument("--eval-limit", type=int, default=500, help="Examples per held-out set.")
    parser.add_argument("--budget", type=float, default=100.0, help="Retrain time budget, s.")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--frozen-layers", type=int, help="Default: the retrain job's choice.")
    parser.add_argument("--out", type=Path, help="Also write the JSON here.")
    parser.add_argument("--seed", type=int, default=1234)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_dir():
        _log(f"skipped: no benchmark data at {args.data}")
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="learning-curve-"))
    work.mkdir(parents=True, exist_ok=True)
    state_file = work / "state.json"
    state: dict[str, Any] = (
        json.loads(state_file.read_text())
        if state_file.is_file()
        else {"token": uuid.uuid4().hex[:8], "done": 0, "results": []}
    )
    base_settings = load_settings()
    registry = private_registry(Registry(base_settings.registry_path), work)
    token = state["token"]
    overrides: dict[str, Any] = {
        "es_index_prefix": f"bench-lc-{token}",
        "topic_labels": f"bench-lc-labels-{token}",
        "topic_dead_letter": f"bench-lc-dead-letter-{token}",
        "registry_path": registry.root,
        "retrain_time_budget_s": args.budget,
        "retrain_epochs": args.epochs,
        "retrain_frozen_layers": args.frozen_layers,
        "retrain_min_new_labels": 1,
        "shadow_hours": 0,
    }
    settings = load_settings(**{**base_settings.model_dump(), **overrides})
    asyncio.run(_ensure_topic(settings))
    sets = load_sets(args.data, args.eval_limit, args.seed)
    es = elasticsearch(settings)
    create_templates(es, layout_for(settings))
    taxonomy = load_taxonomy(settings.taxonomy_path)
    try:
        if "baseline" not in state:
            _log(f"scoring the base version {registry.current_id()}")
            state["baseline"] = {
                "version": registry.current_id(),
                **score_version(registry, registry.current_id() or "", sets),
            }
            state_file.write_text(json.dumps(state, indent=2))
        for step in (int(s) for s in args.steps.split(",")):
            if step <= state["done"]:
                continue
            done = state["done"]
            batch = sets["chat_pool"][done:step] + sets["news_pool"][done:step]
            ids = [
                f"lc-{e.channel}-{i}"
                for e, i in zip(batch, [*range(done, step), *range(done, step)], strict=True)
            ]
            _log(f"step {step}: streaming {len(batch)} labels through {settings.topic_labels}")
            streamed = asyncio.run(stream_step(settings, es, batch, ids, f"bench-lc-{token}"))
            _log(f"step {step}: {streamed}; retraining")
            job = RetrainJob(settings, es, registry, taxonomy, announce_updates=False)
            started = time.perf_counter()
            result = job.run(trigger="bench", force=True)
            seconds = round(time.perf_counter() - started, 1)
            _log(
                f"step {step}: {result.outcome} {result.candidate} in {seconds} s: {result.reason}"
            )
            scores = score_version(registry, result.candidate, sets) if result.candidate else {}
            state["results"].append(
                {
                    "labels_per_channel": step,
                    "streamed": streamed,
                    "outcome": result.outcome,
                    "reason": result.reason,
                    "candidate": result.candidate,
                    "previous": result.previous,
                    "retrain_seconds": seconds,
                    "numbers": result.numbers,
                    "scores": scores,
                    "worst_golden_drop_vs_base": worst_slice_drop(
                        state["baseline"]["golden"], scores["golden"]
                    )
                    if scores
                    else None,
                }
            )
            state["done"] = step
            state_file.write_text(json.dumps(state, indent=2))
    finally:
        es.close()
    report = {
        "bench": "learning_curve",
        "work": str(work),
        "settings": overrides | {"registry_path": str(registry.root)},
        **state,
    }
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text)
    _log(summary_line(report))
    return 0


async def _ensure_topic(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            t for t in (settings.topic_labels, settings.topic_dead_letter) if t not in existing
        ]
        if missing:
            await admin.create_topics([NewTopic(t, 4, 1) for t in missing])
    finally:
        await admin.close()


def summary_line(report: dict[str, Any]) -> str:
    base = report["baseline"]
    parts = [f"base tweets {base['tweeteval_val']:.3f} news {base['tfn_valid']:.3f}"]
    for row in report["results"]:
        s = row["scores"]
        if s:
            parts.append(
                f"{row['labels_per_channel']}/ch {row['outcome']}: tweets {s['tweeteval_val']:.3f} "
                f"news {s['tfn_valid']:.3f} golden drop {row['worst_golden_drop_vs_base']:+.3f} "
                f"retrain {row['retrain_seconds']:.0f} s"
            )
    return "learning curve: " + "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
