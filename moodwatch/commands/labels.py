"""``moodwatch labels``: import labelled files and see what people have labelled."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from moodwatch.settings import load_settings


@click.group()
def labels() -> None:
    """Labels for the learning loop (Elasticsearch index <prefix>-labels)."""


@labels.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--labeler", default="import", show_default=True, help="Labeler of rows without one.")
@click.option("--channel", type=click.Choice(["news", "chat"]), help="Channel of rows without one.")
def import_(file: Path, labeler: str, channel: str | None) -> None:
    """Store labelled JSONL/CSV rows ({text, channel, sentiment?, topic?, labeler?, ...}).

    Each row gets a synthetic message id from its channel and text, so importing a file again
    replaces its labels instead of doubling them. Bad rows are listed and skipped.
    """
    from models.taxonomy import load_taxonomy
    from stream.connections import elasticsearch
    from stream.label_import import import_labels

    settings = load_settings()
    client = elasticsearch(settings)
    try:
        result = import_labels(
            client,
            settings.es_index_prefix,
            load_taxonomy(settings.taxonomy_path),
            file,
            labeler,
            channel,
        )
    finally:
        client.close()
    for problem in result.rejected[:20]:
        click.secho(f"skipped {problem}", fg="yellow", err=True)
    if len(result.rejected) > 20:
        click.secho(f"... and {len(result.rejected) - 20} more", fg="yellow", err=True)
    click.echo(
        f"stored {result.stored} labels, {result.superseded} older than ones already stored, "
        f"{len(result.rejected)} rows skipped"
    )


@labels.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(as_json: bool) -> None:
    """Counts per class, topic, channel, labeler; how many are new since the current model."""
    from models.registry import Registry
    from retrain.corpus import labels_cutoff
    from stream.connections import elasticsearch
    from stream.label_index import label_counts

    settings = load_settings()
    current = Registry(settings.registry_path).current()
    client = elasticsearch(settings)
    try:
        counts = label_counts(client, settings.es_index_prefix, labels_cutoff(current))
    finally:
        client.close()
    if as_json:
        out = asdict(counts)
        out["since"] = counts.since.isoformat() if counts.since else None
        out["current_model"] = current.id if current else None
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"{counts.total} labels on {counts.messages} messages")
    model = current.id if current else "none"
    since = counts.since.isoformat(timespec="seconds") if counts.since else "ever"
    click.echo(f"new since the current model ({model}, labels until {since}): {counts.new}")
    click.echo(f"messages whose labelers disagree on sentiment: {counts.disagreements}")
    for title, table in (
        ("sentiment", counts.by_sentiment),
        ("topic", counts.by_topic),
        ("channel", counts.by_channel),
        ("labeler", counts.by_labeler),
        ("origin", counts.by_origin),
    ):
        cells = ", ".join(f"{k} {v}" for k, v in sorted(table.items(), key=lambda kv: -kv[1]))
        click.echo(f"  by {title:<10} {cells or '-'}")
