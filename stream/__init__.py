"""Kafka in, Elasticsearch out: the Faust app, validation, redaction, agents and the ES sink."""
