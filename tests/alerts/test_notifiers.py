"""Notices: what each notifier sends, and that secrets never reach an error or a log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from alerts.episodes import Episode
from alerts.errors import NotifyError
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.notice import Notice
from alerts.notifiers.webhook import WebhookNotifier
from moodwatch.logs import SecretMask, secret_values
from moodwatch.settings import load_settings
from tests.integration.streamkit import free_port

T = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
EPISODE = Episode(
    id="chat-spike:refunds:1",
    rule="chat-spike",
    group="refunds",
    number=1,
    reason="share spike: ratio 4.0 vs 2.0 ✓",
    first_breach=T,
    last_breach=T,
    fired_at=T,
    window_from=T,
    window_to=T,
    numbers={"metric_current": 0.4, "baseline_mean": 0.1, "ratio": 4.0, "z": 10.0, "count": 100},
    groups_truncated={"limit": 50, "groups_seen": 61},
    evidence={"rising_terms": [{"term": "refund"}], "messages": [{"text": "where is my refund"}]},
    link="http://dash/explorer?episode=chat-spike%3Arefunds%3A1",
)


def test_the_slack_payload_carries_numbers_evidence_cap_and_link() -> None:
    payload = Notice("firing", EPISODE).slack_payload()
    body = payload["blocks"][1]["text"]["text"]
    assert payload["text"].startswith(":rotating_light: [FIRING] chat-spike / refunds (market)")
    assert "current 0.4 vs baseline 0.1 (ratio 4.0, z 10.0, 100 messages)" in body
    assert "rising terms: refund" in body and "where is my refund" in body
    assert "61 groups matched, only the 50 largest" in body
    assert EPISODE.link in body
    assert payload["moodwatch"] == {"notice": "firing", "episode_id": EPISODE.id, "route": "market"}


def test_the_email_has_the_title_as_subject_and_the_episode_header() -> None:
    mail = EmailNotifier("smtp.test", 587, "mw@test", ["a@test", "b@test"]).message(
        Notice("resolved", EPISODE)
    )
    assert mail["Subject"] == "[RESOLVED] chat-spike / refunds (market)"
    assert mail["To"] == "a@test, b@test" and mail["X-Moodwatch-Episode"] == EPISODE.id


async def test_a_webhook_failure_never_shows_the_secret_url() -> None:
    secret = "T000/B000/very-secret-token"
    notifier = WebhookNotifier(SecretStr(f"http://127.0.0.1:{free_port()}/{secret}"), 2.0)
    with pytest.raises(NotifyError) as caught:
        await notifier.send(Notice("firing", EPISODE))
    await notifier.close()
    assert secret not in str(caught.value) and caught.value.__cause__ is None


def test_alert_secrets_are_masked_in_logs() -> None:
    settings = load_settings(
        alert_webhook_url="https://hooks.example/T0/secret-hook", smtp_password="smtp-secret"
    )
    assert {"https://hooks.example/T0/secret-hook", "smtp-secret"} <= set(secret_values(settings))
    record = logging.LogRecord("x", logging.INFO, "", 0, "posting to %s", ("smtp-secret",), None)
    SecretMask(secret_values(settings)).filter(record)
    assert "smtp-secret" not in record.getMessage()
    assert settings.masked()["alert_webhook_url"] == "**********"
