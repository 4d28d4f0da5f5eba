"""The bundled seed data: big enough, well formed, and the golden set kept apart from training.

A golden line that nearly repeats a training line would let the promotion gate reward
memorising, so near-duplicates (same words, reordered or with a number changed) fail too.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources

from models.examples import SENTIMENTS, Example, seed_golden_set, seed_training_set
from models.taxonomy import load_taxonomy

NEAR = 0.8  # word-set Jaccard at or above this counts as the same line
HARD_TAGS = {
    "",
    "negation",
    "sarcasm",
    "mixed",
    "typo",
    "emoji",
    "short",
    "neutral_news",
    "domain_shift",
}


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.lower()))


def near_duplicates(
    train: list[Example], golden: list[Example], threshold: float = NEAR
) -> list[tuple[str, str]]:
    """Pairs (train, golden) whose word sets overlap at least ``threshold`` (Jaccard)."""
    index: dict[str, list[int]] = {}
    train_words = [_words(e.text) for e in train]
    for row, words in enumerate(train_words):
        for word in words:
            index.setdefault(word, []).append(row)
    pairs = []
    for example in golden:
        words = _words(example.text)
        if not words:
            continue
        shared = Counter(row for word in words for row in index.get(word, ()))
        for row, common in shared.items():
            if common / len(words | train_words[row]) >= threshold:
                pairs.append((train[row].text, example.text))
    return pairs


def test_training_seed_has_at_least_3000_lines_of_every_sentiment() -> None:
    train = seed_training_set()
    counts = Counter(e.sentiment for e in train)
    assert len(train) >= 3000
    assert set(counts) == set(SENTIMENTS)
    # Sensible balance: no class under a fifth or over two fifths of the lines.
    assert all(0.2 <= counts[s] / len(train) <= 0.4 for s in SENTIMENTS), counts


def test_every_seed_line_has_the_five_fields_and_a_known_topic() -> None:
    """Topic may be null on a training line labelled for sentiment only (film reviews and
    general tweets: register for the sentiment head that would only crowd chat ``other``)."""
    taxonomy = load_taxonomy()
    for split in ("train", "golden"):
        folder = resources.files("models").joinpath("seed", split)
        for entry in folder.iterdir():
            if not entry.name.endswith(".jsonl"):
                continue
            for number, line in enumerate(entry.read_text("utf-8").splitlines(), start=1):
                row = json.loads(line)
                where = f"{split}/{entry.name}:{number}"
                assert set(row) == {"text", "channel", "topic", "sentiment", "hard"}, where
                assert row["channel"] in taxonomy.channels, where
                if row["topic"] is not None or split == "golden":
                    assert f"{row['channel']}/{row['topic']}" in taxonomy.keys, where
                assert row["sentiment"] in SENTIMENTS, where
                assert row["hard"] in HARD_TAGS, where


def test_no_golden_line_repeats_or_nearly_repeats_a_training_line() -> None:
    train, golden = seed_training_set(), seed_golden_set()
    assert len(golden) >= 400
    assert not {e.text.strip().lower() for e in train} & {e.text.strip().lower() for e in golden}
    assert near_duplicates(train, golden) == []


def test_the_near_duplicate_check_catches_a_reworded_line() -> None:
    train = [Example("Harlow Foods shares sank 12% after the profit warning")]
    golden = [
        Example("After the profit warning, Harlow Foods shares sank 12%"),
        Example("Cocoa futures were steady in London"),
    ]
    assert near_duplicates(train, golden) == [(train[0].text, golden[0].text)]
