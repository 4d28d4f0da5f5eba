"""What language detection costs next to the model, on the same messages, in one process.

Both are timed back to back on the same texts (public tweets and finance headlines when
``../shared/data`` is there, else the seed data), so a busy machine slows both alike and
the ratio holds: detection must stay under 2 % of the model's time per message.

    python -m bench.language_cost --registry PATH [--n 1000]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from models.examples import seed_training_set
from models.language import detect_languages, load_identifier
from models.registry import Registry
from models.versions import load_engine
from moodwatch.engine import engine_options
from moodwatch.settings import load_settings

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if not DATA.is_dir():  # a worktree one level deeper than the main checkout
    DATA = Path(__file__).resolve().parents[1].parents[1] / "shared" / "data"
SETS = ("tweeteval_sentiment", "twitter_financial_news", "sst2_dev", "uci_sentences")


def _texts(n: int) -> list[str]:
    texts: list[str] = []
    for name in SETS:
        for path in sorted((DATA / name).glob("*.jsonl")) if DATA.is_dir() else []:
            lines = path.read_text("utf-8").split("\n")
            texts.extend(json.loads(line)["text"] for line in lines[: n // len(SETS)] if line)
    return texts or [e.text for e in seed_training_set()][:n]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.language_cost")
    parser.add_argument("--registry", type=Path, default=None)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args(argv)
    settings = load_settings()
    texts = _texts(args.n)
    load_identifier()  # about a second: not part of the per-message cost
    started = time.perf_counter()
    languages = detect_languages(texts)
    detect_s = time.perf_counter() - started
    engine = load_engine(
        Registry(args.registry or settings.registry_path), None, None, engine_options(settings)
    )
    started = time.perf_counter()
    engine.predict(texts)
    model_s = time.perf_counter() - started
    report = {
        "benchmark": "language_cost",
        "messages": len(texts),
        "detect_us_per_message": round(detect_s / len(texts) * 1e6, 1),
        "model_us_per_message": round(model_s / len(texts) * 1e6, 1),
        "detect_share_of_model": round(detect_s / model_s, 4),
        "languages": dict(Counter(languages).most_common(8)),
    }
    print(json.dumps(report, indent=2))
    print(
        f"language detection {report['detect_us_per_message']} µs/msg = "
        f"{report['detect_share_of_model']:.2%} of the model's {report['model_us_per_message']} "
        "µs/msg on the same texts"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
