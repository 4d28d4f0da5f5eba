"""Evaluation arithmetic on hand-computed cases."""

from __future__ import annotations

import pytest

from models.evaluation import expected_calibration_error, head_report, macro_f1


def test_macro_f1_by_hand() -> None:
    truth = ["neg", "neg", "pos", "pos", "neu"]
    pred = ["neg", "pos", "pos", "pos", "neg"]
    # neg: tp1 fp1 fn1 -> 0.5; pos: tp2 fp1 fn0 -> 0.8; neu: tp0 -> 0
    assert macro_f1(truth, pred, ["neg", "pos", "neu"]) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    assert expected_calibration_error([1.0, 1.0], [True, True]) == pytest.approx(0.0)
    assert expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert expected_calibration_error([0.9] * 10, [False] * 10) == pytest.approx(0.9)


def test_confusion_matrix_rows_are_truth() -> None:
    report = head_report(["a", "a", "b"], ["a", "b", "b"], [0.9, 0.6, 0.8])
    assert report["confusion"] == {"labels": ["a", "b"], "matrix": [[1, 1], [0, 1]]}
    assert report["accuracy"] == pytest.approx(2 / 3)
