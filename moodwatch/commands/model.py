"""``moodwatch model``: train, evaluate and manage model versions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from moodwatch.settings import Settings, load_settings


def _registry(settings: Settings):  # type: ignore[no-untyped-def]
    from models.registry import Registry

    return Registry(settings.registry_path)


def _taxonomy(settings: Settings):  # type: ignore[no-untyped-def]
    from models.taxonomy import load_taxonomy

    return load_taxonomy(settings.taxonomy_path)


@click.group()
def model() -> None:
    """Train, evaluate and manage model versions in the registry (MOODWATCH_REGISTRY_PATH)."""


@model.command()
@click.option(
    "--data",
    "data_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Extra labelled JSONL ({text, sentiment?, topic?, channel?}); repeatable.",
)
@click.option("--no-seed", is_flag=True, help="Train only on --data, without the bundled seed set.")
@click.option("--parent", help="Fine-tune this version further instead of the plain encoder.")
@click.option("--epochs", type=click.IntRange(1, 50), default=4, show_default=True)
@click.option(
    "--seed", "random_seed", type=int, default=1234, show_default=True, help="Random seed."
)
@click.option(
    "--promote/--no-promote",
    default=None,
    help="Make the new version current (default: only when none is current).",
)
def train(
    data_files: tuple[Path, ...],
    no_seed: bool,
    parent: str | None,
    epochs: int,
    random_seed: int,
    promote: bool | None,
) -> None:
    """Fine-tune a new version (encoder included) and print its evaluation on the golden set."""
    from models.evaluation import render_report
    from models.examples import read_jsonl, seed_training_set
    from models.training import TrainingConfig
    from models.versions import build_version

    settings = load_settings()
    registry, taxonomy = _registry(settings), _taxonomy(settings)
    new = [] if no_seed else seed_training_set()
    for path in data_files:
        new.extend(read_jsonl(path))
    config = TrainingConfig(
        epochs=epochs,
        seed=random_seed,
        max_length=settings.max_seq_length,
        threads=settings.torch_threads,
    )
    click.echo(f"training on {len(new)} labelled examples ({epochs} epochs, seed {random_seed})")
    built = build_version(
        registry, taxonomy, new, parent=parent, encoder_path=settings.encoder_path, config=config
    )
    click.echo(render_report(built.report, f"{built.version.id} on the golden set"))
    click.echo(f"registered {built.version.id} in {registry.root} ({built.seconds:.0f} s)")
    if promote or (promote is None and registry.current_id() is None):
        registry.promote(built.version.id, reason="moodwatch model train")
        click.echo(f"{built.version.id} is now current")


@model.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--version", "version_id", help="Version to evaluate (default: current).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def eval_(file: Path, version_id: str | None, as_json: bool) -> None:
    """Score a labelled JSONL file ({text, sentiment?, topic?, channel?}) and print the report."""
    from models.evaluation import evaluate, render_report
    from models.examples import read_jsonl
    from models.versions import load_engine

    settings = load_settings()
    examples = read_jsonl(file)
    from moodwatch.engine import engine_options

    options = engine_options(settings)
    engine = load_engine(_registry(settings), version_id, _taxonomy(settings), options)
    report = evaluate(engine, examples)
    click.echo(
        json.dumps(report, indent=2)
        if as_json
        else render_report(report, f"{engine.version} on {file}")
    )


@model.command(name="list")
def list_() -> None:
    """List versions with their golden-set scores; * marks the current one."""
    registry = _registry(load_settings())
    current = registry.current_id()
    versions = registry.versions()
    if not versions:
        click.echo(f"no versions in {registry.root}; run `moodwatch model train`")
        return
    click.echo(f"  {'version':<8} {'created':<26} {'parent':<8} {'sent F1':>8} {'topic F1':>9}")
    for v in versions:
        mark = "*" if v.id == current else " "
        click.echo(
            f"{mark} {v.id:<8} {v.created_at:<26} {v.parent or '-':<8} "
            f"{v.metrics.get('sentiment_macro_f1', float('nan')):>8.3f} "
            f"{v.metrics.get('topic_macro_f1', float('nan')):>9.3f}"
        )


@model.command()
@click.argument("version_id", required=False)
def show(version_id: str | None) -> None:
    """Show a version's metadata, checksum status and evaluation report (default: current)."""
    from models.errors import RegistryError
    from models.evaluation import render_report

    registry = _registry(load_settings())
    version = registry.get(version_id) if version_id else registry.current()
    if version is None:
        raise RegistryError("no version is current; name one or run `moodwatch model train`")
    click.echo(json.dumps(version.summary(), indent=2))
    try:
        registry.verify(version)
        click.echo("checksum: ok")
    except RegistryError as exc:
        click.secho(f"checksum: FAILED: {exc}", fg="red")
    report_file = version.path / "report.json"
    if report_file.is_file():
        click.echo(
            render_report(json.loads(report_file.read_text()), f"{version.id} on the golden set")
        )


@model.command()
@click.argument("version_id")
def promote(version_id: str) -> None:
    """Make VERSION_ID current (after verifying its checksum) and tell the workers."""
    settings = load_settings()
    registry = _registry(settings)
    previous = registry.current_id()
    version = registry.promote(version_id, reason="moodwatch model promote")
    click.echo(f"{version.id} is now current")
    _announce(settings, "promoted", version.id, previous)


@model.command()
def rollback() -> None:
    """Make the previously promoted version current again and tell the workers."""
    settings = load_settings()
    registry = _registry(settings)
    previous = registry.current_id()
    version = registry.rollback()
    click.echo(f"rolled back: {version.id} is now current")
    _announce(settings, "rolled_back", version.id, previous)


def _announce(settings: Settings, event: str, version: str, previous: str | None) -> None:
    """Publish the change on the model-updates topic; the registry change stands either way."""
    from retrain.announce import announce
    from retrain.errors import AnnounceError

    try:
        announce(settings, "promoted" if event == "promoted" else "rolled_back", version, previous)
    except AnnounceError as exc:
        click.secho(f"warning: {exc}", fg="yellow", err=True)
        return
    click.echo(f"announced {event} {version} on {settings.topic_model_updates}")


@model.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--channel", type=click.Choice(["news", "chat"]), help="Channel of the texts.")
def predict(texts: tuple[str, ...], channel: str | None) -> None:
    """Score TEXTS with the current version and print one JSON line each."""
    from dataclasses import asdict

    from models.versions import load_engine

    settings = load_settings()
    from moodwatch.engine import engine_options

    engine = load_engine(_registry(settings), None, _taxonomy(settings), engine_options(settings))
    for text, prediction in zip(
        texts, engine.predict(list(texts), [channel] * len(texts)), strict=True
    ):
        click.echo(json.dumps({"text": text, **asdict(prediction)}))
