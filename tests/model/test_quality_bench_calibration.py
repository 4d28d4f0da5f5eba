"""The quality benchmark's two checks of calibration under a shifted class mix, on a
synthetic scorer whose confidence and class mix are known: it answers "positive" for a third
of the rows and "neutral" for the rest, 95 % sure every time, while the truth is mostly
neutral and it is right on 70 % of its answers."""

from __future__ import annotations

import random

import numpy as np

from bench.model_quality import label_shift, own_label_calibration
from models.evaluation import expected_calibration_error
from models.inference import Prediction


def _prediction(label: str, confidence: float) -> Prediction:
    rest = (1.0 - confidence) / 2
    probs = {c: (confidence if c == label else rest) for c in ("negative", "neutral", "positive")}
    return Prediction(label, confidence, probs, "other", 1.0, {"other": 1.0}, "test")


def _overconfident(rows: int = 600) -> tuple[list[Prediction], list[str]]:
    rng = random.Random(5)
    predictions, truth = [], []
    for i in range(rows):
        said = "positive" if i % 3 == 0 else "neutral"
        right = rng.random() < 0.7
        predictions.append(_prediction(said, 0.95))
        truth.append(
            said if right else rng.choice([c for c in ("negative", "neutral") if c != said])
        )
    return predictions, truth


def test_own_label_calibration_removes_over_confidence() -> None:
    predictions, truth = _overconfident()
    before = expected_calibration_error(
        [p.sentiment_confidence for p in predictions],
        [p.sentiment == t for p, t in zip(predictions, truth, strict=True)],
    )
    after = own_label_calibration(predictions, truth)
    assert before > 0.2
    assert after["ece"] < 0.08, after  # 0.95 claimed, 0.70 right: the gap is gone


def test_label_shift_moves_answers_towards_the_target_mix() -> None:
    predictions, truth = _overconfident()
    trained = np.array([0.1, 0.2, 0.7])  # a model that believed positive was common
    shifted = label_shift(predictions, truth, trained)
    neutral_before = sum(p.sentiment == "neutral" for p in predictions) / len(predictions)
    assert shifted["predicted_neutral"] >= neutral_before
    assert shifted["target_shares"] == [
        round(truth.count(c) / len(truth), 4) for c in ("negative", "neutral", "positive")
    ]
