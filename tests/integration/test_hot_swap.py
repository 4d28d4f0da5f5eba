"""Invariant 4 on real Kafka + Elasticsearch: a promotion announced on model-updates swaps the
model in every running worker between two batches, without losing or doubling a message; a
version whose files are corrupt is refused and the old one keeps serving."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from models.registry import Registry
from stream.connections import kafka_options
from tests.integration.streamkit import StreamRig, WorkerProcess, wait_for


def _announce(rig: StreamRig, version: str, previous: str) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(**kafka_options(rig.settings), acks="all")
        await producer.start()
        try:
            event = {"event": "promoted", "version": version, "previous": previous,
                     "at": datetime.now(UTC).isoformat()}
            await producer.send_and_wait(
                rig.env["MOODWATCH_TOPIC_MODEL_UPDATES"], json.dumps(event).encode()
            )
        finally:
            await producer.stop()

    asyncio.run(send())


def _own_registry(rig: StreamRig, tiny_registry: Registry, tmp_path: Path) -> Registry:
    root = tmp_path / "registry"
    shutil.copytree(tiny_registry.root, root)
    rig.env["MOODWATCH_REGISTRY_PATH"] = str(root)
    return Registry(root)


def _messages(start: int, n: int) -> list[tuple[str, bytes]]:
    return [
        ("chat", json.dumps({"id": f"hs-{i}", "text": f"the parcel {i} never came"}).encode())
        for i in range(start, start + n)
    ]


@pytest.mark.slow
def test_a_promotion_swaps_every_worker_and_loses_nothing(  # type: ignore[no-untyped-def]
    rig: StreamRig, tiny_registry: Registry, build_tiny, tmp_path: Path
) -> None:
    registry = _own_registry(rig, tiny_registry, tmp_path)
    old = registry.current_id()
    assert old is not None
    workers = [rig.start_worker("a"), rig.start_worker("b")]
    new = build_tiny(registry, seed=11).version.id
    registry.promote(new, reason="test")

    rig.produce(_messages(0, 300))
    wait_for(lambda: rig.count() >= 100, 120, "the stream to flow")
    _announce(rig, new, old)  # while messages are still flowing
    rig.produce(_messages(300, 300))

    def swapped(worker: WorkerProcess) -> bool:
        return bool(worker.health()["model_version"] == new)

    wait_for(lambda: all(swapped(w) for w in workers), 180, "both workers to swap")
    rig.produce(_messages(600, 200))  # after the swap: only the new version may score these
    rig.wait_indexed(800, timeout=300)

    docs = rig.documents()
    ids = [d["_id"] for d in docs]
    assert len(ids) == len(set(ids)) == 800, "every message exactly once"
    assert {d["model_version"] for d in docs} == {old, new}
    assert all(d["model_version"] == new for d in docs if int(d["id"].split("-")[1]) >= 600)
    by_partition: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for d in docs:
        by_partition[d["kafka"]["partition"]].append((d["kafka"]["offset"], d["model_version"]))
    for rows in by_partition.values():  # within a partition the version flips once, forward
        versions = [v for _, v in sorted(rows)]
        flips = sum(1 for a, b in itertools.pairwise(versions) if a != b)
        assert flips <= 1 and versions[0] in (old, new)
        if flips:
            assert versions[-1] == new
    for worker in workers:
        assert "moodwatch_model_swaps_total 1.0" in worker.metrics()


@pytest.mark.slow
def test_a_corrupt_version_is_refused_and_the_old_one_keeps_serving(  # type: ignore[no-untyped-def]
    rig: StreamRig, tiny_registry: Registry, build_tiny, tmp_path: Path
) -> None:
    registry = _own_registry(rig, tiny_registry, tmp_path)
    old = registry.current_id()
    assert old is not None
    worker = rig.start_worker("a")
    bad = build_tiny(registry, seed=13).version
    weights = max(bad.path.rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    with weights.open("r+b") as handle:  # flip bytes in the largest file: a bad disk, a bad copy
        handle.seek(1000)
        handle.write(b"\x00" * 64)

    _announce(rig, bad.id, old)
    wait_for(lambda: "model_update_error" in worker.health(), 120, "the refusal to show")
    health = worker.health()
    assert health["model_version"] == old and health["ok"] is True
    assert bad.id in health["model_update_error"]
    assert "moodwatch_model_load_failures_total 1.0" in worker.metrics()
    rig.produce(_messages(0, 50))
    rig.wait_indexed(50, timeout=120)
    assert {d["model_version"] for d in rig.documents()} == {old}


@pytest.mark.slow
def test_a_promotion_whose_event_was_missed_is_followed_from_the_registry(  # type: ignore[no-untyped-def]
    rig: StreamRig, tiny_registry: Registry, build_tiny, tmp_path: Path
) -> None:
    registry = _own_registry(rig, tiny_registry, tmp_path)
    rig.env["MOODWATCH_MODEL_CHECK_INTERVAL_S"] = "2"
    worker = rig.start_worker("a")
    new = build_tiny(registry, seed=17).version.id
    registry.promote(new, reason="test")  # and no event: as if announced while it was starting

    wait_for(lambda: worker.health()["model_version"] == new, 120, "the worker to follow")
    rig.produce(_messages(0, 50))
    rig.wait_indexed(50, timeout=120)
    assert {d["model_version"] for d in rig.documents()} == {new}
    assert "moodwatch_model_swaps_total 1.0" in worker.metrics()
