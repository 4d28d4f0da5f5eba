"""What moodwatch keeps between runs: the model registry, the alert rules, the retrain history.

The registry is re-hashed exactly as a worker does before serving a version, so "checksum ok"
here means a worker will load it. The rules are loaded strictly, as ``moodwatch alerts rules
check`` does. The retrain history is the scheduler's own record in Elasticsearch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from alerts.errors import RuleError
from alerts.loading import bundled_rules_path, load_rules
from models.errors import RegistryError
from models.registry import Registry
from moodwatch.doctor.findings import Finding, fail, ok, warn
from moodwatch.settings import Settings
from retrain.errors import RetrainError
from retrain.history import LoopHistory

TRAIN_DEFAULT = "`moodwatch model train --time-budget 5m` (makes the first version current)"


def check_registry(settings: Settings) -> Finding:
    root = settings.registry_path.expanduser().resolve()
    registry = Registry(root)
    try:
        current = registry.current()
    except RegistryError as exc:
        return fail("model", f"registry {root}: {exc}",
                    "promote a version that exists: `moodwatch model list`, then "
                    "`moodwatch model promote VERSION`")
    if current is None:
        known = len(registry.versions())
        return fail("model", f"no current model version in {root} ({known} versions)",
                    f"train one: {TRAIN_DEFAULT}, or point MOODWATCH_REGISTRY_PATH at a registry",
                    versions=known)
    try:
        registry.verify(current)
    except RegistryError as exc:
        return fail("model", f"current version {current.id}: {exc}",
                    "go back to the previous version: `moodwatch model rollback` "
                    "(workers refuse to serve a corrupt one)", version=current.id)
    return ok("model", f"current version {current.id} in {root}, checksum ok, languages "
              f"{', '.join(current.languages)}", version=current.id, checksum=current.checksum,
              created_at=current.created_at)


def check_rules(settings: Settings) -> Finding:
    path = settings.alert_rules_path or bundled_rules_path()
    try:
        rules = load_rules(path)
    except RuleError as exc:
        shown = "; ".join(exc.problems[:3]) + (" …" if len(exc.problems) > 3 else "")
        return fail("rules", f"{len(exc.problems)} problem(s) in {path}: {shown}",
                    f"fix the named fields; `moodwatch alerts rules check {path}` lists them all",
                    problems=exc.problems, path=str(path))
    if not rules:
        return warn("rules", f"no alert rules in {path}",
                    "add a rule file (docs/alert-rules.md) or unset MOODWATCH_ALERT_RULES_PATH "
                    "for the bundled examples", path=str(path))
    return ok("rules", f"{len(rules)} rules parse in {path}", rules=[r.name for r in rules],
              path=str(path))


def check_scheduler(settings: Settings, client: Elasticsearch,
                    now: datetime | None = None) -> Finding:
    history = LoopHistory(client, settings.es_index_prefix)
    try:
        runs = history.recent_runs(limit=1)
    except (RetrainError, TransportError, ApiError) as exc:
        return fail("scheduler", f"cannot read the retrain history: {exc}",
                    "see the elasticsearch check above", unreachable=True)
    if not runs:
        return ok("scheduler", "no retrain run yet (runs once enough labels arrive: "
                  "`moodwatch scheduler`)", last_run=None)
    run = runs[0]
    shown = f"last retrain run {run.run_id} started {run.started_at}: {run.outcome}"
    details = {"last_run": run.run_id, "outcome": run.outcome, "started_at": run.started_at,
               "reason": run.reason}
    if run.outcome == "failed":
        return warn("scheduler", f"{shown} ({run.reason})",
                    "see `moodwatch retrain history`; run it again with `moodwatch retrain now`",
                    **details)
    started = datetime.fromisoformat(run.started_at)
    started = started if started.tzinfo else started.replace(tzinfo=UTC)
    stale = timedelta(seconds=settings.retrain_lock_ttl_s)
    if run.outcome == "running" and (now or datetime.now(UTC)) - started > stale:
        return warn("scheduler", f"{shown} for longer than the lock's "
                    f"{settings.retrain_lock_ttl_s:.0f} s: its process probably died",
                    "the next scheduled run takes over the lock; or `moodwatch retrain now`",
                    **details)
    return ok("scheduler", f"{shown}" + (f" ({run.reason})" if run.reason else ""), **details)
