"""How fast fine-tuning runs: examples per second for a few training recipes, on seed data.

Each recipe trains a fresh copy of the default encoder for one pass over the same examples
(no calibration), so the numbers compare recipes, not data sizes.

    python -m bench.training_speed --examples 320

Prints one JSON object, then a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import replace

from models.checkpoint import Checkpoint
from models.encoder import load_encoder
from models.examples import seed_training_set
from models.taxonomy import load_taxonomy
from models.training import TrainingConfig, fine_tune, new_classifier, seed_everything

RECIPES = {
    "before (fp32, no bucketing)": TrainingConfig(
        precision="fp32", length_bucketing=False, frozen_layers=0
    ),
    "fp32 + length bucketing": TrainingConfig(precision="fp32", frozen_layers=0),
    "fp32 + bucketing + 2 frozen layers": TrainingConfig(frozen_layers=2),
    "bf16 autocast + bucketing": TrainingConfig(precision="bf16", frozen_layers=0),
    "fp32 + bucketing + 3 frozen layers": TrainingConfig(frozen_layers=3),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.training_speed")
    parser.add_argument("--examples", type=int, default=320)
    parser.add_argument("--recipe", action="append", help="only these recipes (by name)")
    args = parser.parse_args(argv)
    data = seed_training_set()
    random.Random(0).shuffle(data)
    data = data[: args.examples]
    taxonomy = load_taxonomy()
    results = {}
    for name, recipe in RECIPES.items():
        if args.recipe and name not in args.recipe:
            continue
        seed_everything(1)
        encoder, tokenizer = load_encoder(None)
        checkpoint = Checkpoint(new_classifier(encoder, tokenizer, taxonomy), tokenizer, taxonomy)
        config = replace(recipe, epochs=1, calibration_fraction=0.0)
        result = fine_tune(checkpoint, data, config=config, progress=False)
        results[name] = round(result.examples_per_second, 1)
        print(f"{name}: {results[name]} examples/s", file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "training_speed", "examples": len(data), "per_s": results}))
    print("; ".join(f"{k}: {v}/s" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
