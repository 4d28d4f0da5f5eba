"""Debian's Chromium driven headless by Playwright: how the browser tests launch and wait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser download does not work on these machines; this set does.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def settle(page: Any) -> None:
    """Wait until Streamlit finished the run (no skeletons, not 'running')."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=90_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]') && "
        "!document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=90_000,
    )


def shoot(page: Any, name: str, metrics: int = 0, charts: int = 0, tables: int = 0) -> None:
    """Save a screenshot of the whole page once ``metrics`` numbers, ``charts`` charts and
    ``tables`` tables have drawn. Streamlit scrolls inside its main block, so the window is
    made as tall as that block's content for the shot."""
    drawn = """([metrics, charts, tables]) =>
        document.querySelectorAll('[data-testid="stMetricValue"]').length >= metrics &&
        document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= charts &&
        document.querySelectorAll('[data-testid="stDataFrame"] canvas').length >= tables"""
    page.wait_for_function(drawn, arg=[metrics, charts, tables], timeout=90_000)
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    try:
        page.wait_for_function(drawn, arg=[metrics, charts, tables], timeout=90_000)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    finally:
        page.set_viewport_size(size)
