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
