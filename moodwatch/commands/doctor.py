"""``moodwatch doctor``: check the machine, the services and the stored state; say how to fix."""

from __future__ import annotations

import json
import logging
import sys

import click

from moodwatch.settings import load_settings

# Client libraries log each refused connection themselves; doctor reports it once, with advice.
_QUIET = ("aiokafka", "elastic_transport", "elasticsearch", "urllib3")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 60), default=2.0,
              show_default=True, help="Seconds each network probe may take.")
def doctor(as_json: bool, timeout_s: float) -> None:
    """Python, Java, Maven, ports, memory, disk, Kafka and Elasticsearch, topics, the model
    registry, the alert rules and the last retrain run: each problem with how to fix it.

    \b
    Exit codes: 0 all checks passed (warnings allowed), 1 something to fix,
    3 Kafka or Elasticsearch cannot be reached.
    """
    from moodwatch.doctor import run_checkup

    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    report = run_checkup(load_settings(), timeout_s)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2, default=str))
    else:
        colours = {"ok": "green", "warn": "yellow", "FAIL": "red"}
        for line in report.lines():
            mark = line[:4].strip()
            click.secho(line, fg=colours.get(mark))
    sys.exit(report.exit_code)
