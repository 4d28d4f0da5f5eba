"""Invariant 3: the model never blocks the event loop.

A ticker on the loop measures the longest gap between its ticks while the real (tiny) model
scores a large batch through the scoring thread. The gap must stay a small fraction of the
model's time; run on the loop itself, the same batch would freeze it for the whole time.
"""

from __future__ import annotations

import asyncio
import time

from models.inference import InferenceEngine
from stream.scoring import ScoringThread

TEXTS = [
    f"order {i}: the parcel is late again and the support chat keeps closing on me, "
    "I have asked three times where my refund is and nobody answers" * 2
    for i in range(600)
]


async def _longest_gap_while(work: asyncio.Future[object]) -> float:
    longest, last = 0.0, time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    return longest


async def test_scoring_runs_beside_a_responsive_event_loop(tiny_engine: InferenceEngine) -> None:
    scoring = ScoringThread(tiny_engine)
    try:
        started = time.perf_counter()
        work = asyncio.ensure_future(scoring.score(TEXTS, ["chat"] * len(TEXTS)))
        gap = await _longest_gap_while(work)
        busy = time.perf_counter() - started
        predictions = work.result()
    finally:
        scoring.close()
    assert len(predictions) == len(TEXTS)
    assert busy > 0.5, "the batch was too small to show anything"
    # The event loop kept ticking: no pause longer than a tenth of the model's time.
    assert gap < busy / 10, (gap, busy)

