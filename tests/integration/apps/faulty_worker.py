"""A real moodwatch worker whose model fails on every call while a file exists.

Stands in for a sticky CUDA error or an out-of-memory model: the test creates the file named by
FAULT_FILE to break the model and removes it to mend it. Everything else is the production
worker (settings from MOODWATCH_* variables, real Kafka, real Elasticsearch).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from models.errors import InferenceError
from models.inference import InferenceEngine, Prediction
from models.registry import Registry
from models.versions import load_engine
from moodwatch.engine import engine_options
from moodwatch.logs import setup_logging
from moodwatch.settings import load_settings
from stream.connections import elasticsearch
from stream.index_admin import create_templates
from stream.index_layout import layout_for
from stream.worker import Worker


class SwitchableEngine:
    def __init__(self, engine: InferenceEngine, fault: Path) -> None:
        self._engine = engine
        self._fault = fault

    @property
    def version(self) -> str:
        return self._engine.version

    def predict(self, texts: Sequence[str], channels: Sequence[str | None]) -> list[Prediction]:
        if self._fault.exists():
            raise InferenceError("CUDA error: an illegal memory access was encountered")
        return self._engine.predict(texts, channels)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def main() -> None:
    settings = load_settings()
    setup_logging(settings)
    engine = load_engine(Registry(settings.registry_path), options=engine_options(settings))
    client = elasticsearch(settings)
    create_templates(client, layout_for(settings))
    client.close()
    faulty = cast(InferenceEngine, SwitchableEngine(engine, Path(os.environ["FAULT_FILE"])))
    Worker(settings, faulty, web_port=int(sys.argv[1])).run()


if __name__ == "__main__":
    main()
