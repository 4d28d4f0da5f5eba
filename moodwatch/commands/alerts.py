"""``moodwatch alerts`` (episodes, silences, rule checks, backtests) and ``moodwatch alerter``."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from moodwatch.errors import MoodwatchError
from moodwatch.settings import load_settings


def _moment(value: str, option: str) -> datetime:
    """ISO-8601 (naive = UTC), ``now``, or ``now-2h`` / ``now+30m``."""
    from alerts.rules import parse_duration

    text = value.strip()
    now = datetime.now(UTC)
    try:
        if text == "now":
            return now
        if text.startswith("now-"):
            return now - parse_duration(text[4:])
        if text.startswith("now+"):
            return now + parse_duration(text[4:])
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        message = f"{value!r}: {exc}; use ISO-8601 or now-2h"
        raise click.BadParameter(message, param_hint=option) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.group()
def alerts() -> None:
    """Alert episodes, silences, rule checks and backtests."""


@alerts.command("list")
@click.option("--rule", help="Only this rule.")
@click.option("--state", type=click.Choice(["firing", "resolved"]), help="Only this state.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def list_(rule: str | None, state: str | None, limit: int, as_json: bool) -> None:
    """Episodes, newest first."""
    from alerts.store import AlertStore
    from stream.connections import elasticsearch

    settings = load_settings()
    client = elasticsearch(settings)
    try:
        episodes = AlertStore(client, settings.es_index_prefix).list_episodes(
            rule=rule, state=state, size=limit
        )
    finally:
        client.close()
    for ep in episodes:
        if as_json:
            click.echo(json.dumps(ep.model_dump(mode="json")))
            continue
        resolved = ep.resolved_at.isoformat(timespec="seconds") if ep.resolved_at else "-"
        click.echo(
            f"{ep.id:<50} {ep.state:<9} fired {ep.fired_at.isoformat(timespec='seconds')}"
            f"  resolved {resolved}  {ep.reason}"
        )
    if not episodes and not as_json:
        click.echo("no episodes")


@alerts.command()
@click.argument("episode_id")
def show(episode_id: str) -> None:
    """One episode with its numbers, evidence and notifications (JSON)."""
    from alerts.store import AlertStore
    from stream.connections import elasticsearch

    settings = load_settings()
    client = elasticsearch(settings)
    try:
        found = AlertStore(client, settings.es_index_prefix).get_episode(episode_id)
    finally:
        client.close()
    if found is None:
        raise click.ClickException(f"no episode {episode_id!r}; see `moodwatch alerts list`")
    click.echo(json.dumps(found[0].model_dump(mode="json"), indent=2, ensure_ascii=False))


@alerts.command()
@click.argument("rule")
@click.argument("group", required=False, default="*")
@click.option("--until", "until", required=True, help="ISO-8601 time or now+2h.")
@click.option("--comment", default="", help="Why (shown with the silence).")
def silence(rule: str, group: str, until: str, comment: str) -> None:
    """Silence RULE (for one GROUP, or all) until a time: episodes are still recorded."""
    from alerts.store import AlertStore, Silence
    from stream.connections import elasticsearch

    settings = load_settings()
    end = _moment(until, "--until")
    client = elasticsearch(settings)
    try:
        store = AlertStore(client, settings.es_index_prefix)
        store.ensure_index()
        store.silence(Silence(rule, group, end, comment), datetime.now(UTC))
    finally:
        client.close()
    click.echo(f"silenced {rule} / {group} until {end.isoformat()}")


@alerts.group()
def rules() -> None:
    """Check rule files."""


@rules.command()
@click.argument("path", type=click.Path(path_type=Path))
def check(path: Path) -> None:
    """Validate a rule file or folder; exit 2 naming file, rule and field of each problem."""
    from alerts.loading import load_rules

    found = load_rules(path)
    for rule in found:
        click.echo(f"ok  {rule.name}  ({rule.condition.type}, group_by {rule.group_by})")
    click.echo(f"{len(found)} rules valid")


@alerts.command()
@click.argument("rule_name", metavar="RULE")
@click.option("--from", "start", required=True, help="ISO-8601 or now-24h.")
@click.option("--to", "end", default="now", show_default=True, help="ISO-8601 or now.")
@click.option("--rules", "rules_path", type=click.Path(path_type=Path), help="Rule file/folder.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def backtest(rule_name: str, start: str, end: str, rules_path: Path | None, as_json: bool) -> None:
    """Replay RULE over indexed history: when it would have fired and resolved (no notices)."""
    from alerts.backtest import backtest as replay
    from alerts.loading import load_rules
    from alerts.query import measure
    from alerts.service import rules_path as default_rules
    from stream.connections import elasticsearch

    settings = load_settings()
    begin, finish = _moment(start, "--from"), _moment(end, "--to")
    if finish <= begin:
        raise click.BadParameter("--to must be after --from", param_hint="--to")
    chosen = [r for r in load_rules(rules_path or default_rules(settings)) if r.name == rule_name]
    if not chosen:
        raise click.ClickException(
            f"no rule named {rule_name!r}; see `moodwatch alerts rules check`"
        )
    rule = chosen[0]
    every = rule.every or timedelta(seconds=settings.alert_eval_interval_s)
    client = elasticsearch(settings)
    index = f"{settings.es_index_prefix}-messages"
    try:
        episodes = replay(rule, lambda r, t: measure(client, index, r, t), begin, finish, every)
    finally:
        client.close()
    result: dict[str, Any] = {
        "rule": rule.name,
        "from": begin.isoformat(),
        "to": finish.isoformat(),
        "every_s": every.total_seconds(),
        "episodes": [e.to_json() for e in episodes],
    }
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    for e in episodes:
        resolved = e.resolved_at.isoformat() if e.resolved_at else "(still firing)"
        click.echo(f"{e.group:<30} fired {e.fired_at.isoformat()}  resolved {resolved}  {e.reason}")
    click.echo(f"{len(episodes)} episodes")


@click.command()
@click.option(
    "--web-port", type=click.IntRange(1, 65535), help="Default MOODWATCH_ALERTER_WEB_PORT."
)
def alerter(web_port: int | None) -> None:
    """Evaluate alert rules and send notices (run several: one evaluates, the rest stand by)."""
    from alerts.service import Alerter
    from moodwatch.logs import setup_logging
    from stream.connections import elasticsearch

    settings = load_settings()
    setup_logging(settings)
    # One line per ES request every few seconds drowns the alerts: keep the client's warnings.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    client = elasticsearch(settings)

    async def main() -> None:
        service = Alerter(settings, client, web_port=web_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.start()
        try:
            await service.run_until(stop)
        finally:
            await service.stop()

    try:
        asyncio.run(main())
    except MoodwatchError:
        raise
    finally:
        client.close()
