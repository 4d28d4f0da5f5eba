"""Errors of the models component, all under :class:`moodwatch.errors.MoodwatchError`."""

from __future__ import annotations

from moodwatch.errors import MoodwatchError


class ModelError(MoodwatchError):
    """A model could not be built, loaded, trained or run."""


class TaxonomyError(ModelError):
    """The topic taxonomy file is missing or malformed."""


class DatasetError(ModelError):
    """A labelled data file is unreadable or has invalid rows."""


class RegistryError(ModelError):
    """The model registry is missing a version, or a version is corrupt or incomplete."""


class InferenceError(ModelError):
    """A batch could not be scored (bad input for the model, out of memory, ...)."""
