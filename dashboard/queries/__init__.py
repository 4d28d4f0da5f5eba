"""Every Elasticsearch, registry and Kafka access of the dashboard: plain functions of a client
and a :class:`~dashboard.filters.View`, so pages stay thin and tests call them directly.

Each read is an aggregation or a bounded page; a missing index reads as empty, and a service
that cannot be reached raises :class:`~dashboard.errors.DataUnavailable`.
"""
