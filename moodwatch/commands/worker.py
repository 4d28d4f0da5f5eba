"""``moodwatch worker``: run one stream worker (start several to share the partitions)."""

from __future__ import annotations

import asyncio

import click

from moodwatch.settings import load_settings


@click.command()
@click.option(
    "--web-port",
    type=click.IntRange(1, 65535),
    help="Port for /metrics and /health (default MOODWATCH_WORKER_WEB_PORT); "
    "give each worker on one host its own.",
)
def worker(web_port: int | None) -> None:
    """Consume the news and chat topics, score each message and index it in Elasticsearch.

    On an empty model registry the default model is first trained on the bundled seed data
    (a minute or two on CPU). A version announced on the model-updates topic is loaded beside
    the current one and swapped in between two batches.

    Stop with Ctrl-C or SIGTERM: the worker stops within MOODWATCH_WORKER_STOP_GRACE_S (8 s)
    even with Kafka or Elasticsearch down; a second signal exits at once. Unacknowledged
    messages are redelivered to the other workers.
    """
    from models.registry import Registry
    from models.taxonomy import load_taxonomy
    from models.versions import ensure_default_version, load_engine
    from moodwatch.engine import engine_options
    from moodwatch.logs import setup_logging
    from stream.connections import elasticsearch
    from stream.index_admin import create_templates
    from stream.index_layout import layout_for
    from stream.topics import ensure_topics
    from stream.worker import Worker

    settings = load_settings()
    setup_logging(settings)
    registry = Registry(settings.registry_path)
    taxonomy = load_taxonomy(settings.taxonomy_path)
    ensure_default_version(registry, taxonomy, settings.encoder_path)
    from models.language import load_identifier

    load_identifier()  # now, not on the first message without a `lang`
    options = engine_options(settings)
    engine = load_engine(registry, None, taxonomy, options)
    client = elasticsearch(settings)
    try:
        create_templates(client, layout_for(settings))
    finally:
        client.close()
    created = asyncio.run(ensure_topics(settings))
    if created:
        click.echo(f"created topics: {', '.join(created)}")
    click.echo(
        f"serving model {engine.version} on {engine.device} ({engine.precision}); "
        "metrics on /metrics"
    )
    Worker(
        settings,
        engine,
        web_port=web_port,
        load_version=lambda version: load_engine(registry, version, taxonomy, options),
        current_version=registry.current_id,
        taxonomy=taxonomy,
    ).run()
