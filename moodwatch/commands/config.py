"""``moodwatch config``: inspect the effective settings."""

from __future__ import annotations

import json

import click

from moodwatch.settings import load_settings


@click.group()
def config() -> None:
    """Inspect the effective settings (environment, .env file, defaults)."""


@config.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def show(as_json: bool) -> None:
    """Print every setting with its value; secrets are masked."""
    values = load_settings().masked()
    if as_json:
        click.echo(json.dumps(values, indent=2, default=str))
        return
    width = max(len(name) for name in values)
    for name, value in values.items():
        env = "MOODWATCH_" + name.upper()
        click.echo(f"{env:<{width + 10}}  {value}")
