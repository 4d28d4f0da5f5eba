"""Errors of the dashboard's data access: pages show their message, never a traceback.

MoodwatchError
└── DashboardError          a query could not be answered
    └── DataUnavailable     Elasticsearch (or Kafka, for labels) cannot be reached
"""

from __future__ import annotations

from moodwatch.errors import MoodwatchError


class DashboardError(MoodwatchError):
    """A dashboard query or action failed; the message says what and what to do."""


class DataUnavailable(DashboardError):
    """A backing service cannot be reached right now; the page shows this and retries later."""
