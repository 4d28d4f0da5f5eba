"""Scoring a model on labelled examples: accuracy, macro-F1, confusion, calibration, slices."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from models.examples import Example
from models.inference import Prediction


class Scorer(Protocol):
    def predict(
        self, texts: Sequence[str], channels: Sequence[str | None] | None = None
    ) -> list[Prediction]: ...


def macro_f1(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    """Mean F1 over ``labels`` present in the truth (absent labels would only add zeros)."""
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        if tp + fn == 0:
            continue
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """Weighted gap between confidence and accuracy over equal-width confidence bins."""
    conf, hit = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float)
    if conf.size == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (conf > low) & (conf <= high)
        if inside.any():
            error += inside.mean() * abs(conf[inside].mean() - hit[inside].mean())
    return float(error)


def head_report(
    truth: Sequence[str], predicted: Sequence[str], confidences: Sequence[float]
) -> dict[str, Any]:
    labels = sorted(set(truth) | set(predicted))
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t], index[p]] += 1
    correct = [t == p for t, p in zip(truth, predicted, strict=True)]
    return {
        "n": len(truth),
        "accuracy": float(np.mean(correct)) if correct else 0.0,
        "macro_f1": macro_f1(truth, predicted, sorted(set(truth))),
        "ece": expected_calibration_error(confidences, correct),
        "confusion": {"labels": labels, "matrix": matrix.tolist()},
    }


def evaluate(scorer: Scorer, examples: Sequence[Example]) -> dict[str, Any]:
    """Report for both heads overall, per channel and per topic (the gate's slices)."""
    predictions = scorer.predict([e.text for e in examples], [e.channel for e in examples])
    report: dict[str, Any] = {"examples": len(examples)}
    report.update(_heads(examples, predictions))
    by_channel: dict[str, list[int]] = defaultdict(list)
    by_topic: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        by_channel[example.channel or "?"].append(i)
        if example.topic:
            by_topic[f"{example.channel}/{example.topic}"].append(i)
    report["slices"] = {
        "channel": {
            name: _heads([examples[i] for i in rows], [predictions[i] for i in rows])
            for name, rows in sorted(by_channel.items())
        },
        "topic": {
            name: _heads([examples[i] for i in rows], [predictions[i] for i in rows], brief=True)
            for name, rows in sorted(by_topic.items())
        },
    }
    return report


def _heads(
    examples: Sequence[Example], predictions: Sequence[Prediction], brief: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs = [(e, p) for e, p in zip(examples, predictions, strict=True) if e.sentiment]
    if pairs:
        out["sentiment"] = head_report(
            [e.sentiment or "" for e, _ in pairs],
            [p.sentiment for _, p in pairs],
            [p.sentiment_confidence for _, p in pairs],
        )
    pairs = [(e, p) for e, p in zip(examples, predictions, strict=True) if e.topic]
    if pairs:
        out["topic"] = head_report(
            [e.topic or "" for e, _ in pairs],
            [p.topic for _, p in pairs],
            [p.topic_confidence for _, p in pairs],
        )
    if brief:
        for head in out.values():
            head.pop("confusion", None)
    return out


def render_report(report: dict[str, Any], title: str = "evaluation") -> str:
    """The report as text for a terminal: headline numbers, slices, confusion matrices."""
    lines = [f"== {title}: {report['examples']} examples"]

    def row(name: str, heads: dict[str, Any]) -> str:
        cells = []
        for head in ("sentiment", "topic"):
            if head in heads:
                h = heads[head]
                cells.append(
                    f"{head} acc {h['accuracy']:.3f} F1 {h['macro_f1']:.3f} "
                    f"ECE {h['ece']:.3f} (n={h['n']})"
                )
        return f"  {name:<28} " + " | ".join(cells)

    lines.append(row("overall", report))
    lines.append("-- by channel")
    lines += [row(n, h) for n, h in report["slices"]["channel"].items()]
    lines.append("-- by topic")
    lines += [row(n, h) for n, h in report["slices"]["topic"].items()]
    for head in ("sentiment", "topic"):
        if head not in report:
            continue
        labels = report[head]["confusion"]["labels"]
        lines.append(f"-- {head} confusion (rows = truth, columns = predicted)")
        width = max(8, *(len(label) for label in labels))
        lines.append(" " * (width + 2) + " ".join(f"{label[:8]:>8}" for label in labels))
        for label, counts in zip(labels, report[head]["confusion"]["matrix"], strict=True):
            lines.append(f"  {label:<{width}}" + " ".join(f"{c:>8}" for c in counts))
    return "\n".join(lines)
