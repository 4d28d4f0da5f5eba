"""Errors of the alerts component, under :class:`moodwatch.errors.MoodwatchError`.

AlertError
├── RuleError           a rule file is invalid: names the file, the rule and the field
├── EvaluationError     Elasticsearch could not answer a rule's query
├── StoreError          the alerts index could not be read or written
│   └── ConflictError   another evaluator changed the document first (seq_no/primary_term)
└── NotifyError         one notifier could not deliver (recorded on the episode, retried)
"""

from __future__ import annotations

from moodwatch.errors import MoodwatchError


class AlertError(MoodwatchError):
    """A rule is invalid, or alerts could not be evaluated, stored or delivered."""


class RuleError(AlertError):
    """A rule file is refused. ``problems`` lists ``file: rule: field: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid alert rules:\n  " + "\n  ".join(problems))
        self.problems = problems


class EvaluationError(AlertError):
    """Elasticsearch refused or could not answer a rule's aggregation."""


class StoreError(AlertError):
    """The alerts index could not be read or written."""


class ConflictError(StoreError):
    """Someone else wrote the document since we read it: re-read before acting."""


class NotifyError(AlertError):
    """A notifier failed to deliver (after its retries)."""
