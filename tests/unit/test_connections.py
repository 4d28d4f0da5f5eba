"""Security settings turn into the right client options, secrets only inside them."""

from __future__ import annotations

import ssl

import pytest

from moodwatch.settings import load_settings
from stream.connections import _es_options, kafka_options


def test_plaintext_kafka(clean_env: pytest.MonkeyPatch) -> None:
    options = kafka_options(load_settings())
    assert options == {"bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_kafka(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MOODWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    clean_env.setenv("MOODWATCH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    clean_env.setenv("MOODWATCH_KAFKA_SASL_USERNAME", "svc")
    clean_env.setenv("MOODWATCH_KAFKA_SASL_PASSWORD", "pw")
    options = kafka_options(load_settings())
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert options["sasl_plain_username"] == "svc"
    assert options["sasl_plain_password"] == "pw"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_es_api_key_and_ca(clean_env: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    clean_env.setenv("MOODWATCH_ES_HOSTS", "https://es1:9200,https://es2:9200")
    clean_env.setenv("MOODWATCH_ES_API_KEY", "k")
    clean_env.setenv("MOODWATCH_ES_CA_CERT", str(tmp_path / "ca.pem"))
    options = _es_options(load_settings())
    assert options["hosts"] == ["https://es1:9200", "https://es2:9200"]
    assert options["api_key"] == "k"
    assert options["ca_certs"].endswith("ca.pem")
    assert "basic_auth" not in options
