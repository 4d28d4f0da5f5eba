"""The alerter process: evaluate rules every interval while holding the lease, deliver notices.

Run several (``moodwatch alerter``) for availability: all reload rules and serve ``/health`` and
``/metrics``; only the lease holder evaluates and notifies (see :mod:`alerts.lease` and
alerts/README.md). Evaluations happen at moments aligned to the interval since the epoch, which
is what lets a backtest reproduce the live episode times.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from elasticsearch import Elasticsearch

from alerts.backtest import tick_at_or_before
from alerts.dispatch import Dispatcher
from alerts.errors import AlertError
from alerts.evaluator import Evaluator
from alerts.lease import Lease
from alerts.loading import RuleBook, bundled_rules_path
from alerts.metrics import AlerterMetrics
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.kafka import KafkaNotifier
from alerts.notifiers.log import LogNotifier
from alerts.notifiers.notice import Notifier
from alerts.notifiers.webhook import WebhookNotifier
from alerts.rules import AlertRule
from alerts.store import AlertStore
from moodwatch.settings import Settings

log = logging.getLogger(__name__)


def build_notifiers(settings: Settings) -> dict[str, Notifier]:
    """Every notifier the settings configure (log always; Kafka always; webhook, e-mail if set)."""
    from stream.connections import kafka_options

    timeout = settings.alert_notify_timeout_s
    notifiers: dict[str, Notifier] = {
        "log": LogNotifier(),
        "kafka": KafkaNotifier(settings.topic_alerts, kafka_options(settings), timeout),
    }
    if settings.alert_webhook_url is not None:
        notifiers["webhook"] = WebhookNotifier(settings.alert_webhook_url, timeout)
    recipients = [r.strip() for r in settings.smtp_to.split(",") if r.strip()]
    if settings.smtp_host and recipients:
        notifiers["email"] = EmailNotifier(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            recipients,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout_s=timeout,
            ssl_context=ssl.create_default_context(
                cafile=str(settings.smtp_ca_cert) if settings.smtp_ca_cert else None
            ),
        )
    return notifiers


def rules_path(settings: Settings) -> Path:
    return settings.alert_rules_path or bundled_rules_path()


class Alerter:
    """One alerter process; ``start``/``run_until``/``stop`` so tests and the worker can host it."""

    def __init__(
        self,
        settings: Settings,
        client: Elasticsearch,
        *,
        notifiers: Mapping[str, Notifier] | None = None,
        holder: str | None = None,
        web_port: int | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.interval = timedelta(seconds=settings.alert_eval_interval_s)
        self.metrics = AlerterMetrics()
        self.store = AlertStore(client, settings.es_index_prefix)
        self.rules = RuleBook(rules_path(settings))
        self.notifiers = dict(notifiers) if notifiers is not None else build_notifiers(settings)
        self.evaluator = Evaluator(
            client,
            self.store,
            f"{settings.es_index_prefix}-messages",
            dashboard_url=settings.dashboard_url,
            notifiers=list(self.notifiers),
        )
        self.dispatcher = Dispatcher(
            self.store, self.notifiers, self.metrics, timeout_s=settings.alert_notify_timeout_s
        )
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.lease = Lease(self.store, self.holder, timedelta(seconds=settings.alert_lease_ttl_s))
        self.web_port = web_port if web_port is not None else settings.alerter_web_port
        self._runner: web.AppRunner | None = None
        self.last_cycle: datetime | None = None
        self.cycles = 0

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.store.ensure_index)
        self.rules.reload()
        self.metrics.rule_problems.set(len(self.rules.problem_lines()))
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.metrics_bind, self.web_port).start()
        log.info("alerter %s serving /health and /metrics on port %d", self.holder, self.web_port)

    async def run_until(self, stop: asyncio.Event) -> None:
        """Evaluate at each aligned tick until ``stop`` is set."""
        while not stop.is_set():
            tick = tick_at_or_before(datetime.now(UTC), self.interval) + self.interval
            delay = (tick - datetime.now(UTC)).total_seconds()
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(delay, 0))
                return
            except TimeoutError:
                pass
            await self.cycle(tick)

    async def stop(self) -> None:
        try:
            await asyncio.to_thread(self.lease.release)
        except AlertError as exc:
            log.warning("could not release the lease: %s", exc)
        for notifier in self.notifiers.values():
            await notifier.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- one cycle ---------------------------------------------------------------------------
    async def cycle(self, tick: datetime) -> None:
        """Reload rules, hold the lease, evaluate due rules at ``tick``, deliver notices."""
        if await asyncio.to_thread(self.rules.reload) or self.rules.problems:
            self.metrics.rule_problems.set(len(self.rules.problem_lines()))
        was_leader = self.lease.held(datetime.now(UTC))
        try:
            leader = await asyncio.to_thread(self.lease.acquire, datetime.now(UTC))
        except AlertError as exc:
            log.warning("lease check failed (standing by): %s", exc)
            leader = False
        self.metrics.leader.set(1 if leader else 0)
        if not leader:
            return
        if not was_leader:
            self.evaluator.forget()
        silences = await asyncio.to_thread(self.store.silences, tick)
        notices: list[str] = []
        for rule in self.rules.rules:
            if rule.enabled and self._due(rule, tick):
                notices += await self._evaluate(rule, tick, silences)
        if not self.lease.held(datetime.now(UTC)):
            # The cycle outlived the lease: the next holder delivers what is pending.
            log.warning("lease expired during the cycle: leaving notices to the next holder")
            return
        for episode_id in notices:
            await self.dispatcher.deliver(episode_id)
        try:
            await self.dispatcher.retry_pending()
        except AlertError as exc:
            log.warning("retrying pending notices failed: %s", exc)
        self.last_cycle = tick
        self.cycles += 1

    def _due(self, rule: AlertRule, tick: datetime) -> bool:
        every = rule.every or self.interval
        return tick_at_or_before(tick, every) == tick

    async def _evaluate(self, rule: AlertRule, tick: datetime, silences: Any) -> list[str]:
        began = time.perf_counter()
        try:
            outcome = await asyncio.to_thread(self.evaluator.evaluate, rule, tick, silences)
        except AlertError as exc:
            log.error("rule %s not evaluated: %s", rule.name, exc)
            self.metrics.evaluations.labels(rule.name, "error").inc()
            return []
        except Exception:
            # A rule that crashes is reported and skipped; it never stops the alerter.
            log.exception("rule %s crashed during evaluation", rule.name)
            self.metrics.evaluations.labels(rule.name, "error").inc()
            return []
        self.metrics.evaluation_seconds.labels(rule.name).observe(time.perf_counter() - began)
        self.metrics.evaluations.labels(rule.name, "ok").inc()
        self.metrics.firing.labels(rule.name).set(self.evaluator.firing_count(rule.name))
        return outcome.notices

    # --- web ---------------------------------------------------------------------------------
    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), content_type="text/plain")

    async def _health(self, request: web.Request) -> web.Response:
        now = datetime.now(UTC)
        return web.json_response(
            {
                "ok": True,
                "holder": self.holder,
                "leader": self.lease.held(now),
                "rules": [r.name for r in self.rules.rules],
                "rule_problems": self.rules.problem_lines(),
                "last_cycle": self.last_cycle.isoformat() if self.last_cycle else None,
                "cycles": self.cycles,
            }
        )
