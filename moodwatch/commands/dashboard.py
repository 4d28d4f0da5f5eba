"""``moodwatch dashboard``: serve the Streamlit dashboard (``dashboard/app.py``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from moodwatch.settings import load_settings


def entry_script() -> Path:
    """The dashboard's Streamlit entry script, wherever moodwatch is installed."""
    import dashboard

    return Path(dashboard.__file__).resolve().parent / "app.py"


def streamlit_argv(host: str, port: int) -> list[str]:
    """The ``python -m streamlit run`` command line serving the dashboard on ``host:port``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(entry_script()),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


@click.command()
@click.option("--host", help="Address to bind (default MOODWATCH_DASHBOARD_HOST, 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port to serve on (default MOODWATCH_DASHBOARD_PORT, 8501).",
)
def dashboard(host: str | None, port: int | None) -> None:
    """Serve the dashboard: overview, alerts, explorer, label queue and models.

    It binds 127.0.0.1 unless told otherwise; before exposing it on another address, set
    MOODWATCH_DASHBOARD_PASSWORD. Stop with Ctrl-C.
    """
    settings = load_settings()
    bind = host or settings.dashboard_host
    if bind not in ("127.0.0.1", "localhost", "::1") and settings.dashboard_password is None:
        click.secho(
            f"warning: the dashboard listens on {bind} without a password; "
            "set MOODWATCH_DASHBOARD_PASSWORD to require one",
            fg="yellow",
            err=True,
        )
    argv = streamlit_argv(bind, port or settings.dashboard_port)
    click.echo(f"dashboard on http://{bind}:{port or settings.dashboard_port}")
    sys.stdout.flush()
    # Replace this process, so Ctrl-C and a container's SIGTERM reach Streamlit directly.
    os.execv(argv[0], argv)  # noqa: S606 (fixed argv, no shell)
