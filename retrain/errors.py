"""Errors of the retrain component, under :class:`moodwatch.errors.MoodwatchError`."""

from __future__ import annotations

from moodwatch.errors import MoodwatchError


class RetrainError(MoodwatchError):
    """A retrain run could not gather, train, judge, register or announce."""


class LockHeld(RetrainError):
    """Another process holds the retrain lock; try again after it expires or is released."""


class AnnounceError(RetrainError):
    """The model-updates topic did not take the event (the registry change itself stands)."""
