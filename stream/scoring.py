"""The inference thread: the model runs here, never on the event loop.

One dedicated thread owns the model. The event loop hands it a batch and awaits a future, so
Kafka heartbeats, fetches and commits keep flowing while the model computes. The engine
reference is read once per batch, which is what makes a swap land between two batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from models.errors import InferenceError
from models.inference import InferenceEngine, Prediction


class ScoringThread:
    def __init__(self, engine: InferenceEngine) -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    @property
    def version(self) -> str:
        return self._engine.version

    @property
    def languages(self) -> list[str]:
        """The languages the serving version scores (``"*"``: any)."""
        return list(getattr(self._engine, "languages", ["en"]))

    def swap(self, engine: InferenceEngine) -> InferenceEngine:
        """Serve ``engine`` from the next batch on; returns the engine it replaced."""
        old, self._engine = self._engine, engine
        return old

    def after_current_batch(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the scoring thread once the batch in flight (if any) is done.

        A replaced engine is retired this way, so a batch that started on it finishes on it.
        """
        self._executor.submit(action)

    def _predict(self, texts: Sequence[str], channels: Sequence[str | None]) -> list[Prediction]:
        engine = self._engine  # one read per batch: a swap never splits a batch
        try:
            return engine.predict(texts, channels)
        except InferenceError:
            raise
        except Exception as exc:  # a tokenizer or torch failure on odd input
            raise InferenceError(f"{type(exc).__name__}: {exc}") from exc

    async def score(self, texts: Sequence[str], channels: Sequence[str | None]) -> list[Prediction]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._predict, texts, channels)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
