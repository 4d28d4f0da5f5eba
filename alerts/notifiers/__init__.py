"""Where notices go: log, the ``alerts`` Kafka topic, a Slack-compatible webhook, e-mail.

Each notifier is an object with a ``name`` and ``async send(notice)`` that raises
:class:`alerts.errors.NotifyError` on failure; retries and recording are the dispatcher's job.
"""
