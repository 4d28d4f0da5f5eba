"""Which fine-tuning choices keep the golden set steady while the model learns real labels.

    python -m bench.retrain_choices --labels 1000 --eval-limit 300 \\
        --variant base --variant "lowlr:head_lr=2e-4" --variant "seedall:seed_replay=-1"

No Kafka or Elasticsearch: the labels the learning curve would stream (``tweeteval_sentiment``
test rows as chat, ``twitter_financial_news`` train rows as news, the same shuffled order and the
same held-out share by message id) go straight to :func:`retrain.finetune.train_within_budget`
from the registry's current version, once per variant. Each candidate is scored on the golden set
(overall, per channel, per topic slice) and on samples of ``tweeteval`` val and
``twitter_financial_news`` valid, so one run compares choices on the same data.

A variant is ``name[:key=value,...]``. Keys: any :class:`models.training.TrainingConfig` field
(``head_lr``, ``encoder_lr``, ``epochs``, ``frozen_layers``...), ``seed_replay`` (seed lines
replayed; -1 = all), ``fill`` (the parent's answers fill open heads from this confidence;
1.01 = never), ``priors`` (``keep``: the job's default, each channel keeps the parent's
class prior and only temperatures are refitted; ``refit``: the prior is refitted too),
``distill_w`` / ``distill_t`` / ``distill_hard`` (the replay is also taught the parent's soft
answers with this weight, 0 = off, at this temperature; ``distill_hard=0`` drops the replay's
hard labels), ``replay_per_epoch`` (replayed lines per epoch, a fresh sample each epoch; -1 =
all). Unset keys take the job's settings (``retrain_distill_weight``...).

Prints one JSON document, then a one-line summary per variant on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.learning_curve import DEFAULT_DATA, golden_summary, load_sets, worst_slice_drop
from bench.prior_shift import shifted_f1
from models.checkpoint import load_checkpoint
from models.evaluation import evaluate
from models.examples import Example, seed_golden_set, seed_training_set
from models.inference import EngineOptions, InferenceEngine
from models.registry import Registry
from moodwatch.settings import load_settings
from retrain.corpus import in_held_out
from retrain.finetune import Distillation, train_within_budget
from retrain.pseudo import fill_open_heads

NUMBER_KEYS = {
    "fill",
    "head_lr",
    "encoder_lr",
    "weight_decay",
    "warmup_fraction",
    "topic_loss_weight",
    "distill_t",
    "distill_w",
}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    name, _, rest = text.partition(":")
    values: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, raw = item.partition("=")
        if key in NUMBER_KEYS:
            values[key] = float(raw)
        else:
            values[key] = int(raw) if raw.lstrip("-").isdigit() else raw
    return name, values


def scores(engine: InferenceEngine, sets: dict[str, list[Example]]) -> dict[str, Any]:
    golden = evaluate(engine, seed_golden_set())
    return {
        "tweeteval_val": round(evaluate(engine, sets["tweeteval_val"])["sentiment"]["macro_f1"], 4),
        "tfn_valid": round(evaluate(engine, sets["tfn_valid"])["sentiment"]["macro_f1"], 4),
        "golden": golden_summary(golden),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=1000, help="Labels per channel.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--eval-limit", type=int, default=300)
    parser.add_argument("--budget", type=float, default=170.0)
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument(
        "--rate", type=float, default=25.0, help="Training examples/s to plan the budget with."
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(json.dumps({"skipped": f"no benchmark data at {args.data}"}))
        return 0
    settings = load_settings()
    registry = Registry(settings.registry_path)
    current = registry.current()
    if current is None:
        raise SystemExit(f"no current model in {registry.root}")
    sets = load_sets(args.data, args.eval_limit, args.seed)
    labelled = [
        (f"lc-{e.channel}-{i}", e)
        for pool in ("chat_pool", "news_pool")
        for i, e in enumerate(sets[pool][: args.labels])
    ]
    new = [e for mid, e in labelled if not in_held_out(mid, settings.retrain_holdout_fraction)]
    held = [e for mid, e in labelled if in_held_out(mid, settings.retrain_holdout_fraction)]
    seeds = seed_training_set()
    options = EngineOptions(device="cpu")
    base = load_checkpoint(current.path)
    engine = InferenceEngine(base, current.id, None, options)
    engine.warm_up(rounds=1)
    report: dict[str, Any] = {"bench": "retrain_choices", "base": current.id, "new": len(new)}
    report["baseline"] = scores(engine, sets)
    engine.retire()
    report["variants"] = []
    for text in args.variant or ["default"]:
        name, values = parse_variant(text)
        replay_n = int(values.pop("seed_replay", settings.retrain_seed_replay))
        priors = values.pop("priors", "keep")
        fill = values.pop("fill", None)  # the job's default: retrain_pseudo_min_confidence
        frozen = values.pop("frozen_layers", None)
        epochs = int(values.pop("epochs", settings.retrain_epochs))
        per_epoch = values.pop("replay_per_epoch", settings.retrain_replay_per_epoch)
        distill_w = values.pop("distill_w", settings.retrain_distill_weight)
        distillation = (
            None
            if not distill_w
            else Distillation(
                temperature=float(values.pop("distill_t", settings.retrain_distill_temperature)),
                weight=float(distill_w),
                hard_replay=bool(values.pop("distill_hard", 1)),
            )
        )
        rng = random.Random(args.seed)
        replay = seeds if replay_n < 0 else rng.sample(seeds, min(replay_n, len(seeds)))
        checkpoint = load_checkpoint(current.path)
        started = time.perf_counter()
        threshold = settings.retrain_pseudo_min_confidence if fill is None else float(fill)
        parent = InferenceEngine(load_checkpoint(current.path), current.id, None, options)
        parent.warm_up(rounds=1)
        taught, filled = fill_open_heads(parent, new, threshold)
        parent.retire()
        training = train_within_budget(
            checkpoint,
            taught,
            replay,
            budget_s=args.budget,
            epochs=epochs,
            frozen_layers=frozen,
            threads=settings.torch_threads,
            tuning=values,
            keep_priors=priors == "keep",
            rate=args.rate,
            distillation=distillation,
            replay_per_epoch=None if per_epoch is None or int(per_epoch) < 0 else int(per_epoch),
        )
        seconds = time.perf_counter() - started
        engine = InferenceEngine(checkpoint, name, None, options)
        engine.warm_up(rounds=1)
        result = scores(engine, sets)
        result["source_prior"] = {
            name: shifted_f1(engine, [e for e in held if e.channel == channel], sets[name])
            for name, channel in (("tfn_valid", "news"), ("tweeteval_val", "chat"))
        }
        engine.retire()
        row = {
            "variant": text,
            "seconds": round(seconds, 1),
            "examples_per_s": round(training.examples_per_second, 1),
            "epochs_run": training.epochs_run,
            "stopped_early": training.stopped_early,
            "threads": training.threads,
            "trained_new": training.new_used,
            "trained_replay": training.replay_used,
            "frozen_layers": training.frozen_layers,
            "replay": len(replay),
            "heads_filled_by_parent": filled,
            "calibration": {
                c: v.to_dict() for c, v in checkpoint.classifier.sentiment_calibration.items()
            },
            "scores": result,
            "worst_golden_drop": worst_slice_drop(report["baseline"]["golden"], result["golden"]),
        }
        report["variants"].append(row)
        g = result["golden"]
        print(
            f"{text}: tweets {result['tweeteval_val']:.3f} news {result['tfn_valid']:.3f} "
            f"(source prior: {result['source_prior']['tweeteval_val']['macro_f1_shifted']:.3f} / "
            f"{result['source_prior']['tfn_valid']['macro_f1_shifted']:.3f}) "
            f"golden {g['sentiment']:.3f} (chat {g['chat_sentiment']:.3f} news "
            f"{g['news_sentiment']:.3f}) worst {row['worst_golden_drop']:+.3f} "
            f"{seconds:.0f} s ({row['examples_per_s']}/s, OMP {os.environ.get('OMP_NUM_THREADS')})",
            file=sys.stderr,
            flush=True,
        )
        if args.out:
            args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
