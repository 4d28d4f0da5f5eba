"""Invariant 3: the model never blocks the event loop.

A ticker on the loop counts its turns while the real (tiny) model scores a large batch through
the scoring thread. The engine notes the tick count when inference starts and when it ends: the
loop must have kept turning in between. Run on the loop itself, inference would see the same
count at both ends, whatever the speed of the machine (no clock is compared).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from models.inference import InferenceEngine, Prediction
from stream.scoring import ScoringThread

TEXTS = [
    f"order {i}: the parcel is late again and the support chat keeps closing on me, "
    "I have asked three times where my refund is and nobody answers" * 2
    for i in range(120)  # many forward passes: the loop has a long time to show it turns
]


class Ticker:
    """Counts turns of the event loop until stopped."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self, until: asyncio.Future[object]) -> None:
        while not until.done():
            await asyncio.sleep(0)
            self.ticks += 1


class WatchedEngine:
    """The real engine, noting the loop's tick count around each predict and its thread."""

    def __init__(self, engine: InferenceEngine, ticker: Ticker) -> None:
        self._engine = engine
        self._ticker = ticker
        self.version = engine.version
        self.spans: list[tuple[int, int]] = []
        self.threads: set[str] = set()

    def predict(self, texts: Sequence[str], channels: Sequence[str | None]) -> list[Prediction]:
        self.threads.add(threading.current_thread().name)
        start = self._ticker.ticks
        predictions = self._engine.predict(texts, channels)
        self.spans.append((start, self._ticker.ticks))
        return predictions


async def test_scoring_runs_beside_a_turning_event_loop(tiny_engine: InferenceEngine) -> None:
    ticker = Ticker()
    watched = WatchedEngine(tiny_engine, ticker)
    scoring = ScoringThread(watched)  # type: ignore[arg-type]
    try:
        work = asyncio.ensure_future(scoring.score(TEXTS, ["chat"] * len(TEXTS)))
        await ticker.run(work)
        predictions = work.result()
    finally:
        scoring.close()
    assert len(predictions) == len(TEXTS)
    assert watched.threads and threading.current_thread().name not in watched.threads
    ((start, end),) = watched.spans
    # The loop turned while the model computed (on the loop, end would equal start).
    assert end - start >= 10, (start, end)


async def test_the_same_engine_on_the_loop_would_freeze_it(tiny_engine: InferenceEngine) -> None:
    # The control: proves the measure above can fail.
    ticker = Ticker()
    watched = WatchedEngine(tiny_engine, ticker)
    done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    ticking = asyncio.ensure_future(ticker.run(done))
    await asyncio.sleep(0)
    watched.predict(TEXTS[:50], ["chat"] * 50)  # on the loop: nothing else can run
    done.set_result(None)
    await ticking
    ((start, end),) = watched.spans
    assert end == start
