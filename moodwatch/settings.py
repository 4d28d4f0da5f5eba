"""The one typed settings object for every moodwatch process.

Values come, in order of precedence, from keyword arguments, ``MOODWATCH_*`` environment
variables, a ``.env`` file in the working directory, and the defaults below. The environment
is read here and nowhere else. Secrets are :class:`pydantic.SecretStr`, so they print as
``**********``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from moodwatch.errors import SettingsError

ENV_PREFIX = "MOODWATCH_"

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]


class Settings(BaseSettings):
    """Effective configuration. Frozen: build a new one to change a value."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # --- Kafka -------------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(None, description="CA certificate for SSL / SASL_SSL.")

    # --- Elasticsearch -----------------------------------------------------------------------
    es_hosts: str = Field(
        "http://127.0.0.1:9200", description="Comma-separated Elasticsearch URLs."
    )
    es_api_key: SecretStr | None = None
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_ca_cert: Path | None = None
    es_index_prefix: str = Field("moodwatch", pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    es_request_timeout_s: float = Field(30.0, gt=0)
    es_index_period: Literal["day", "month"] = Field(
        "month", description="One messages index per day or per month of created_at."
    )
    es_replicas: int = Field(0, ge=0, le=5, description="Replicas of new indices (0 on one node).")
    es_shards: int = Field(
        1,
        ge=1,
        le=128,
        description="Primary shards of each new messages index (1 on one node; keep shards "
        "under ~50 GB: see docs/scaling.md).",
    )
    es_bulk_max_bytes: int = Field(5_000_000, ge=10_000, description="Largest bulk request body.")
    es_retry_max_s: float = Field(30.0, gt=0, description="Longest back-off between ES retries.")

    # --- Topics ------------------------------------------------------------------------------
    topic_news: str = "news"
    topic_chat: str = "chat"
    topic_dead_letter: str = "dead-letter"
    topic_labels: str = "labels"
    topic_alerts: str = "alerts"
    topic_model_updates: str = "model-updates"
    topic_partitions: int = Field(4, ge=1, le=1024)

    # --- Micro-batching and inference --------------------------------------------------------
    batch_max_size: int = Field(64, ge=1, le=4096, description="Messages per micro-batch.")
    batch_max_wait_s: float = Field(0.5, gt=0, le=60, description="Longest wait to fill one.")
    batch_token_budget: int = Field(2048, ge=64, description="Tokens per forward pass at most.")
    max_seq_length: int = Field(128, ge=8, le=512, description="Tokens per text after truncation.")
    max_message_bytes: int = Field(65536, ge=64)
    max_text_chars: int = Field(10000, ge=1)
    pii_redaction: str = Field(
        "email,phone,card,iban",
        description="Comma-separated PII kinds to redact before indexing; empty turns it off.",
    )

    # --- Model -------------------------------------------------------------------------------
    registry_path: Path = Path("var/registry")
    encoder_path: Path | None = Field(
        None, description="Local Hugging Face encoder directory; default: packaged MiniLM-L6."
    )
    taxonomy_path: Path | None = Field(None, description="Topic taxonomy YAML; default: bundled.")
    device: Device = "auto"
    torch_threads: int | None = Field(
        None, ge=1, description="CPU cores for inference; default: all this process may use."
    )
    inference_streams: int | None = Field(
        None,
        ge=1,
        description="CPU forward passes side by side (one core each by default: one per core).",
    )
    inference_precision: Precision = Field(
        "auto",
        description="Encoder compute type: auto = fp16 on CUDA, bf16 on CPUs with native bf16, "
        "else fp32.",
    )

    # --- Worker ------------------------------------------------------------------------------
    worker_group: str = Field("moodwatch-workers", description="Kafka consumer group of workers.")
    worker_web_port: int = Field(6066, ge=1, le=65535)
    metrics_bind: str = Field(
        "127.0.0.1",
        description="Address the worker's and the alerter's /metrics and /health listen on; "
        "0.0.0.0 in a container, so Prometheus and health checks can reach them.",
    )
    worker_session_timeout_s: float = Field(
        8.0,
        ge=6,
        le=300,
        description="A worker silent this long is dropped from the group and its partitions move "
        "(failover time after a crash); the broker's minimum is 6 s.",
    )
    worker_heartbeat_interval_s: float = Field(1.0, gt=0, le=30)
    worker_rebalance_timeout_s: float = Field(
        20.0, ge=1, le=600, description="How long a rebalance waits for members to rejoin."
    )
    worker_stop_grace_s: float = Field(
        8.0, gt=0, le=300, description="A stop not done after this long exits anyway."
    )
    model_check_interval_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="How often a worker also compares the registry's current version with the "
        "one it serves (catches a model-updates event it missed while starting or cut off).",
    )
    breaker_threshold: int = Field(
        5,
        ge=1,
        description="Index refusals in a row (no success between) that mean the index, not the "
        "documents, is at fault: the stream is held instead of dead-lettered.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "text"

    # --- Local services (infra/) -------------------------------------------------------------
    infra_home: Path = Field(Path("var"), description="Jars, data and logs of local services.")
    kafka_port: int = Field(9092, ge=1, le=65535)
    kafka_controller_port: int = Field(9093, ge=1, le=65535)
    es_port: int = Field(9200, ge=1, le=65535)
    es_transport_port: int = Field(9300, ge=1, le=65535)
    kafka_heap: str = Field("512m", pattern=r"^\d+[mMgG]$")
    es_heap: str = Field("1g", pattern=r"^\d+[mMgG]$")

    # --- Alerts ------------------------------------------------------------------------------
    alert_rules_path: Path | None = Field(
        None, description="Alert rule YAML file or folder; default: the bundled alerts/rules."
    )
    alert_eval_interval_s: float = Field(5.0, gt=0, le=3600, description="Rule evaluation period.")
    alerter_web_port: int = Field(6068, ge=1, le=65535, description="Alerter /metrics, /health.")
    alert_lease_ttl_s: float = Field(
        15.0, gt=0, description="A standby alerter takes over this long after the leader stops."
    )
    alert_notify_timeout_s: float = Field(10.0, gt=0, description="Per notifier attempt.")
    alert_webhook_url: SecretStr | None = Field(
        None, description="Slack-compatible incoming webhook URL (a secret)."
    )
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "moodwatch@localhost"
    smtp_to: str = Field("", description="Comma-separated alert e-mail recipients.")
    smtp_starttls: bool = True
    smtp_ca_cert: Path | None = Field(None, description="CA file to verify the SMTP server's TLS.")
    dashboard_url: str = Field("http://127.0.0.1:8501", description="Base URL of the dashboard.")
    # --- Learning loop -----------------------------------------------------------------------
    retrain_min_new_labels: int = Field(
        100, ge=1, description="Retrain only when at least this many labels arrived since."
    )
    retrain_interval_minutes: float = Field(
        60.0, gt=0, description="How often the scheduler checks (ignored when retrain_cron is set)."
    )
    retrain_cron: str | None = Field(
        None, description="Crontab line for the scheduler (e.g. '0 3 * * *'); overrides interval."
    )
    retrain_misfire_grace_s: int = Field(600, ge=1, description="A late run still runs within.")
    retrain_time_budget_s: float = Field(
        100.0, gt=0, description="Fine-tuning stops starting new epochs after this many seconds."
    )
    retrain_epochs: int = Field(3, ge=1, le=50, description="Epochs at most (within the budget).")
    retrain_frozen_layers: int | None = Field(
        None,
        ge=0,
        description="Lowest encoder layers kept frozen; default: all (heads only) under 200 new "
        "labels, 4 under 5,000 examples, else 2.",
    )
    retrain_holdout_fraction: float = Field(
        0.2, ge=0, lt=1, description="Share of the new labels kept out of training for the gate."
    )
    retrain_label_replay: int = Field(
        1000, ge=0, description="Earlier labels replayed at most (against forgetting)."
    )
    retrain_seed_replay: int = Field(
        400, ge=0, description="Seed examples replayed at most (against forgetting)."
    )
    gate_heldout_tolerance: float = Field(
        0.01, ge=0, le=1, description="Held-out macro-F1 may drop this much and still tie."
    )
    gate_slice_tolerance: float = Field(
        0.02, ge=0, le=1, description="No golden slice's macro-F1 may drop more than this."
    )
    gate_min_slice_examples: int = Field(
        20, ge=1, description="Golden slices smaller than this are reported but do not gate."
    )
    shadow_hours: float = Field(
        24.0, ge=0, description="Score the last hours of indexed traffic with the candidate."
    )
    shadow_max_messages: int = Field(5000, ge=0, description="Shadow scores at most this many.")
    shadow_negative_share_tolerance: float = Field(
        0.05, ge=0, le=1, description="A group's negative-share change above this is flagged."
    )
    retrain_lock_ttl_s: float = Field(
        900.0, gt=0, description="A retrain lock not renewed for this long may be taken over."
    )

    # --- Dashboard ---------------------------------------------------------------------------
    dashboard_host: str = Field(
        "127.0.0.1", description="Address the dashboard binds; 0.0.0.0 exposes it (set a password)."
    )
    dashboard_port: int = Field(8501, ge=1, le=65535)
    dashboard_password: SecretStr | None = Field(
        None, description="When set, the dashboard asks for it before showing anything."
    )
    dashboard_refresh_s: float = Field(
        10.0, ge=1, le=3600, description="Live panels re-query Elasticsearch this often."
    )
    dashboard_export_max_rows: int = Field(
        10000, ge=1, le=100000, description="Largest CSV export from the explorer."
    )
    # --- Learning loop: gate statistics ------------------------------------------------------
    gate_confidence: float = Field(
        0.95,
        gt=0.5,
        lt=1,
        description="A golden slice fails only if its drop is beyond noise at this confidence.",
    )
    retrain_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads for fine-tuning; default: all cores when idle, 1 when busy.",
    )
    retrain_pseudo_min_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A head a label leaves open is taught the current model's answer from this "
        "confidence (1 = never).",
    )
    # --- Learning loop: distillation and epochs (round 2) ----------------------------------
    retrain_distill_weight: float = Field(
        1.0,
        ge=0,
        description="Weight of the parent's soft answers on the replayed lines (0 = hard labels "
        "only): keeps the golden slices while the new labels pull.",
    )
    retrain_distill_temperature: float = Field(
        2.0, gt=0, description="Temperature of the parent's soft answers."
    )
    retrain_replay_per_epoch: int | None = Field(
        150,
        ge=0,
        description="Replayed lines per epoch (a fresh sample each epoch; none = all of them): "
        "more passes over the new labels fit the time budget.",
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        for server in _split(value):
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port entries, got {server!r}")
        if not _split(value):
            raise ValueError("at least one host:port is required")
        return value

    @field_validator("es_hosts")
    @classmethod
    def _check_es_hosts(cls, value: str) -> str:
        hosts = _split(value)
        if not hosts:
            raise ValueError("at least one URL is required")
        for url in hosts:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"expected http(s)://host:port URLs, got {url!r}")
        return value

    @model_validator(mode="after")
    def _check_security(self) -> Settings:
        sasl = self.kafka_security_protocol.startswith("SASL")
        if sasl and not (self.kafka_sasl_mechanism and self.kafka_sasl_username):
            raise ValueError(
                "kafka_security_protocol SASL_* needs MOODWATCH_KAFKA_SASL_MECHANISM and "
                "MOODWATCH_KAFKA_SASL_USERNAME (and MOODWATCH_KAFKA_SASL_PASSWORD)"
            )
        if self.es_api_key and (self.es_username or self.es_password):
            raise ValueError("set either MOODWATCH_ES_API_KEY or ES username/password, not both")
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("pii_redaction")
    @classmethod
    def _check_pii(cls, value: str) -> str:
        unknown = set(_split(value)) - {"email", "phone", "card", "iban"}
        if unknown:
            raise ValueError(f"unknown PII kinds {sorted(unknown)}; use email, phone, card, iban")
        return value

    @cached_property
    def bootstrap_servers(self) -> list[str]:
        return _split(self.kafka_bootstrap_servers)

    @cached_property
    def es_urls(self) -> list[str]:
        return _split(self.es_hosts)

    @property
    def input_topics(self) -> dict[str, str]:
        """Channel name → input topic."""
        return {"news": self.topic_news, "chat": self.topic_chat}

    def masked(self) -> dict[str, Any]:
        """Effective settings as plain values, every secret replaced by ``**********``."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "**********"
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        return out


_SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one :class:`SettingsError`.

    The message names each offending environment variable, e.g. ``MOODWATCH_BATCH_MAX_SIZE``.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            if not loc:  # a cross-field check: its input is every value, secrets included
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
            shown = "" if loc[0] in _SECRET_FIELDS else f" (got {error.get('input')!r})"
            problems.append(f"{ENV_PREFIX}{loc[0].upper()}: {error['msg']}{shown}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from exc
