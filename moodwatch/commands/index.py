"""``moodwatch index``: create and inspect the Elasticsearch indices."""

from __future__ import annotations

import json

import click

from moodwatch.settings import load_settings


@click.group()
def index() -> None:
    """Create and inspect the Elasticsearch index templates and indices."""


@index.command()
def create() -> None:
    """Create or update the index templates (safe to run any number of times)."""
    from stream.connections import elasticsearch
    from stream.index_admin import create_templates
    from stream.index_layout import layout_for

    settings = load_settings()
    client = elasticsearch(settings)
    try:
        names = create_templates(client, layout_for(settings))
    finally:
        client.close()
    click.echo(f"templates ready: {', '.join(names)}")


@index.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Cluster health, templates, and the messages indices with their document counts."""
    from stream.connections import elasticsearch
    from stream.index_admin import index_status
    from stream.index_layout import layout_for

    settings = load_settings()
    client = elasticsearch(settings)
    try:
        info = index_status(client, layout_for(settings))
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"cluster {info['cluster']}: {info['status']}")
    click.echo(f"template: {info['template'] or 'MISSING (run `moodwatch index create`)'}")
    click.echo(f"alias {info['alias']}: {info['documents']} documents")
    for row in info["indices"]:
        click.echo(f"  {row['index']:<40} {row['docs.count']:>10} docs {row['store.size']:>10}")
