"""The inference engine's options as the settings give them: one place for the worker, the
``model`` commands and the benchmarks, so they always score with the same configuration."""

from __future__ import annotations

from models.inference import EngineOptions
from moodwatch.settings import Settings


def engine_options(settings: Settings) -> EngineOptions:
    return EngineOptions(
        device=settings.device,
        max_length=settings.max_seq_length,
        token_budget=settings.batch_token_budget,
        threads=settings.torch_threads,
        streams=settings.inference_streams,
        precision=settings.inference_precision,
    )
