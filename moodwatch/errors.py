"""Exceptions moodwatch raises at its boundaries.

    MoodwatchError
    ├── SettingsError        invalid or missing configuration
    ├── InfraError           local Kafka / Elasticsearch could not be fetched, started or stopped
    ├── ModelError           (models/) a model could not be built, loaded, trained or run
    ├── StreamError          (stream/) Kafka or Elasticsearch I/O failed for good
    └── AlertError           (alerts/) a rule is invalid or could not be evaluated

Components subclass these in their own ``errors`` modules; callers catch these, never a
third-party exception type.
"""

from __future__ import annotations


class MoodwatchError(Exception):
    """Root of every error moodwatch raises on purpose."""


class SettingsError(MoodwatchError):
    """The configuration is invalid; the message names the variable and what to do."""


class InfraError(MoodwatchError):
    """A local service could not be fetched, started, checked or stopped."""
