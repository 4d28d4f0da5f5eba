"""The ``moodwatch`` command line.

Sub-commands live in ``moodwatch/commands/`` and are imported only when used, so
``moodwatch config show`` does not pay for importing torch.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from moodwatch import __version__
from moodwatch.errors import (
    EXIT_ERROR,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    MoodwatchError,
    ServiceUnavailable,
)

# name -> (module, attribute, one-line help shown by `moodwatch --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "config": ("moodwatch.commands.config", "config", "Show the effective settings."),
    "model": ("moodwatch.commands.model", "model", "Train, evaluate and manage model versions."),
    "worker": (
        "moodwatch.commands.worker",
        "worker",
        "Run a stream worker (Kafka → model → Elasticsearch).",
    ),
    "index": ("moodwatch.commands.index", "index", "Create and inspect Elasticsearch indices."),
    "demo": (
        "moodwatch.commands.demo",
        "demo",
        "Run the system on local services with sample data.",
    ),
    "infra": (
        "moodwatch.commands.infra",
        "infra",
        "Local Kafka and Elasticsearch: up, down, status.",
    ),
    "feed": ("moodwatch.commands.feed", "feed", "Send a file of texts (or stdin) to Kafka."),
    "dlq": ("moodwatch.commands.dlq", "dlq", "Inspect, export and replay the dead-letter topic."),
    "dashboard": (
        "moodwatch.commands.dashboard",
        "dashboard",
        "Serve the Streamlit dashboard (127.0.0.1:8501 by default).",
    ),
    "alerts": (
        "moodwatch.commands.alerts",
        "alerts",
        "Alert episodes, silences, rule checks and backtests.",
    ),
    "alerter": (
        "moodwatch.commands.alerts",
        "alerter",
        "Run the alert evaluator (one of several evaluates, the rest stand by).",
    ),
    "labels": ("moodwatch.commands.labels", "labels", "Import labelled files; label counts."),
    "retrain": (
        "moodwatch.commands.retrain",
        "retrain",
        "Run the retrain job now; show its history.",
    ),
    "scheduler": (
        "moodwatch.commands.retrain",
        "scheduler",
        "Run the retrain scheduler (APScheduler; one run at a time).",
    ),
    "doctor": (
        "moodwatch.commands.doctor",
        "doctor",
        "Check this machine, the services and the model; say how to fix each problem.",
    ),
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MoodwatchError as exc:
            # Our errors already say what went wrong and what to do: no traceback.
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exit_code(exc))


# Third-party errors that mean "could not connect", for a MoodwatchError raised from one by a
# module that did not translate it into ServiceUnavailable (matched by name: no imports here).
_UNREACHABLE = {"KafkaConnectionError", "NoBrokersAvailable", "ConnectionError",
                "ConnectionTimeout"}


def exit_code(exc: MoodwatchError) -> int:
    """EXIT_UNAVAILABLE when a service could not be reached, else EXIT_ERROR."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ServiceUnavailable | ConnectionError):
            return EXIT_UNAVAILABLE
        if type(cause).__name__ in _UNREACHABLE:
            return EXIT_UNAVAILABLE
        cause = cause.__cause__
    return EXIT_ERROR


EPILOG = f"""\b
Exit codes:
  0  success
  {EXIT_ERROR}  a moodwatch error (the message says what was wrong and what to do)
  {EXIT_USAGE}  a usage error (unknown command or option, bad value)
  {EXIT_UNAVAILABLE}  Kafka or Elasticsearch cannot be reached (start them: moodwatch infra up)
"""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EPILOG)
@click.version_option(__version__, prog_name="moodwatch")
def cli() -> None:
    """moodwatch: sentiment and topic monitoring for news and customer-chat streams.

    Settings come from MOODWATCH_* environment variables or a .env file;
    see `moodwatch config show`.
    """


def main() -> None:
    cli(prog_name="moodwatch")
