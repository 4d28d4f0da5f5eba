"""``moodwatch retrain`` (run now, history) and ``moodwatch scheduler`` (the service)."""

from __future__ import annotations

import json
import logging
import signal
from typing import Any

import click

from moodwatch.settings import Settings, load_settings


def _job(settings: Settings) -> Any:
    from models.registry import Registry
    from models.taxonomy import load_taxonomy
    from retrain.job import RetrainJob
    from stream.connections import elasticsearch

    return RetrainJob(
        settings,
        elasticsearch(settings),
        Registry(settings.registry_path),
        load_taxonomy(settings.taxonomy_path),
    )


@click.group()
def retrain() -> None:
    """The retrain job: fine-tune on new labels, gate, promote (see `moodwatch scheduler`)."""


@retrain.command()
@click.option(
    "--force", is_flag=True, help="Run even with fewer than MOODWATCH_RETRAIN_MIN_NEW_LABELS."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def now(force: bool, as_json: bool) -> None:
    """Run the retrain job once, now, with a progress bar (waits for no schedule)."""
    from moodwatch.logs import setup_logging

    settings = load_settings()
    setup_logging(settings)
    job = _job(settings)
    try:
        result = job.run(
            trigger="manual",
            force=force,
            progress=not as_json,
            stage=lambda text: click.echo(f"» {text}", err=True),
        )
    finally:
        job.client.close()
    if as_json:
        out = {k: v for k, v in result.__dict__.items() if k != "decision"}
        out["gate"] = result.decision.to_dict() if result.decision else None
        click.echo(json.dumps(out, indent=2, default=str))
        return
    colour = {"promoted": "green", "rejected": "yellow", "skipped": None}.get(result.outcome, "red")
    click.secho(f"{result.outcome}: {result.reason}", fg=colour)
    if result.candidate:
        click.echo(f"candidate {result.candidate} (from {result.previous})")
    if result.decision:
        for check in result.decision.checks:
            if check.gating and (
                not check.passed or check.name.startswith(("held-out", "golden "))
            ):
                mark = "ok " if check.passed else "FAIL"
                click.echo(
                    f"  {mark} {check.name:<40} {check.current:.3f} → {check.candidate:.3f} "
                    f"(n={check.n})"
                )
    if result.shadow and result.shadow.get("messages"):
        click.echo(
            f"shadow on {result.shadow['messages']} messages: sentiment disagreement "
            f"{result.shadow['sentiment_disagreement']:.1%}, alert-relevant change: "
            f"{result.shadow['alert_relevant_change']}"
        )
    click.echo(json.dumps(result.numbers))


@retrain.command()
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(limit: int, as_json: bool) -> None:
    """The latest retrain runs: start, end, outcome, reason and numbers."""
    from retrain.history import LoopHistory
    from stream.connections import elasticsearch

    settings = load_settings()
    client = elasticsearch(settings)
    try:
        runs = LoopHistory(client, settings.es_index_prefix).recent_runs(limit)
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps([run.__dict__ for run in runs], indent=2))
        return
    if not runs:
        click.echo("no retrain runs yet")
        return
    for run in runs:
        versions = f"{run.previous or '-'} → {run.candidate}" if run.candidate else ""
        click.echo(
            f"{run.started_at[:19]}  {run.outcome:<9} {run.trigger:<8} {versions:<16} {run.reason}"
        )


@click.command()
@click.option("--no-initial-run", is_flag=True, help="Wait for the first tick instead of now.")
def scheduler(no_initial_run: bool) -> None:
    """Check for new labels on MOODWATCH_RETRAIN_INTERVAL_MINUTES (or MOODWATCH_RETRAIN_CRON)
    and retrain when at least MOODWATCH_RETRAIN_MIN_NEW_LABELS arrived. Stop with Ctrl-C."""
    from moodwatch.logs import setup_logging
    from retrain.scheduler import RetrainScheduler

    settings = load_settings()
    setup_logging(settings)
    for chatty in ("elastic_transport", "apscheduler.executors"):  # a line per request / tick
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.root.level))
    job = _job(settings)
    service = RetrainScheduler(settings, job)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    click.echo(f"retrain scheduler: {service.trigger()}", err=True)
    try:
        service.start(run_first=not no_initial_run)
    except KeyboardInterrupt:
        service.stop()
    finally:
        job.client.close()
