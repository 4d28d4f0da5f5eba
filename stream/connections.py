"""Connections to Kafka and Elasticsearch built from the settings, security included.

Kafka: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (PLAIN / SCRAM), with an optional CA file.
Elasticsearch: API key or basic auth, optional CA certificate. Secrets are read from their
SecretStr only here, at the moment a client is built, and never logged.
"""

from __future__ import annotations

import ssl
from typing import Any

from elasticsearch import AsyncElasticsearch, Elasticsearch

from moodwatch.settings import Settings


def kafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka producers, consumers and admin clients."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if "SSL" in settings.kafka_security_protocol:
        options["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
    if settings.kafka_security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def _es_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "hosts": settings.es_urls,
        "request_timeout": settings.es_request_timeout_s,
    }
    if settings.es_api_key is not None:
        options["api_key"] = settings.es_api_key.get_secret_value()
    elif settings.es_username:
        password = settings.es_password.get_secret_value() if settings.es_password else ""
        options["basic_auth"] = (settings.es_username, password)
    if settings.es_ca_cert is not None:
        options["ca_certs"] = str(settings.es_ca_cert)
    return options


def elasticsearch(settings: Settings) -> Elasticsearch:
    return Elasticsearch(**_es_options(settings))


def async_elasticsearch(settings: Settings) -> AsyncElasticsearch:
    return AsyncElasticsearch(**_es_options(settings))
