"""Exceptions moodwatch raises at its boundaries.

    MoodwatchError
    ├── SettingsError        invalid or missing configuration
    ├── InfraError           local Kafka / Elasticsearch could not be fetched, started or stopped
    ├── ModelError           (models/) a model could not be built, loaded, trained or run
    ├── StreamError          (stream/) Kafka or Elasticsearch I/O failed for good
    ├── ServiceUnavailable   Kafka or Elasticsearch cannot be reached (CLI exit code 3); the
    │                        stream's KafkaUnavailable and IndexUnavailable are also StreamErrors
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


class ServiceUnavailable(MoodwatchError):
    """A service moodwatch needs (Kafka, Elasticsearch) cannot be reached right now.

    The command line exits with :data:`EXIT_UNAVAILABLE` for these, so scripts can tell "try
    again later" from "fix something".
    """


# Exit codes of the `moodwatch` command (also in `moodwatch --help` and README.md).
EXIT_ERROR = 1  # a moodwatch error: the message says what was wrong and what to do
EXIT_USAGE = 2  # a usage error: unknown option, bad value (click's own code)
EXIT_UNAVAILABLE = 3  # Kafka or Elasticsearch cannot be reached
