"""Soak: workers joining and leaving a consumer group again and again under a steady stream;
afterwards every message is indexed exactly once. Each join and each leave is a rebalance.

Opt-in, minutes of CPU:
``MOODWATCH_SOAK_ROUNDS=10 pytest tests/integration/test_rebalance_soak.py``.
The worker logs of a run stay in pytest's tmp folder; "offset jumped" lines in them are the
worker's own report of records skipped on delivery.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.integration.streamkit import StreamRig, WorkerProcess, wait_for
from tests.integration.test_scale_out import (
    SteadyStream,
    _grow_inputs,
    group_members,
    indexed_now,
    shared_by,
)

ROUNDS = int(os.environ.get("MOODWATCH_SOAK_ROUNDS", "0"))
# More messages per second put more records in flight at each rebalance.
SOAK_RATE = float(os.environ.get("MOODWATCH_SOAK_RATE", "40"))
# The control: workers without the commit guard (stream/commit_guard.py), to show what it stops.
UNGUARDED = os.environ.get("MOODWATCH_SOAK_UNGUARDED") == "1"
WITHOUT_GUARD = (
    "import stream.commit_guard as g; g.CommitGuard.install = lambda self, consumer: None; "
    "from moodwatch.cli import main; main()"
)


def start(rig: StreamRig, name: str) -> WorkerProcess:
    if not UNGUARDED:
        return rig.start_worker(name)
    return rig.start_worker(name, [sys.executable, "-c", WITHOUT_GUARD, "worker", "--web-port"])


@pytest.fixture
def stream(rig: StreamRig) -> Iterator[SteadyStream]:
    flow = SteadyStream(rig, SOAK_RATE)
    yield flow
    if flow.is_alive():
        flow.finish()


@pytest.mark.slow
@pytest.mark.skipif(ROUNDS < 1, reason="opt-in soak: set MOODWATCH_SOAK_ROUNDS")
def test_joins_and_leaves_under_a_steady_stream_lose_nothing(
    rig: StreamRig, stream: SteadyStream
) -> None:
    _grow_inputs(rig)
    base = [start(rig, "a"), start(rig, "b")]
    stream.start()
    wait_for(lambda: shared_by(group_members(rig), 2), 120, "two workers holding 3 each")
    for n in range(ROUNDS):
        guest = start(rig, f"guest{n}")
        wait_for(lambda: shared_by(group_members(rig), 3), 120, f"round {n}: three workers")
        wait_for(lambda g=guest: indexed_now(g) > 0, 120, f"round {n}: the guest to index")  # type: ignore[misc]
        guest.stop()
        rig.workers.remove(guest)  # gone on purpose: wait_indexed checks the others stay up
        wait_for(lambda: shared_by(group_members(rig), 2), 120, f"round {n}: back to two")
    placed = stream.finish()
    logs = [line for log in rig.workdir.glob("*.log") for line in log.read_text().splitlines()]
    jumps = [line for line in logs if "offset jumped" in line]
    held = [line for line in logs if "out of the commit" in line]
    print(
        f"{ROUNDS} rounds at {SOAK_RATE:g} msg/s{' without the guard' if UNGUARDED else ''}: "
        f"{len(placed)} messages, {len(held)} skipped acks held back"
    )
    try:
        rig.wait_indexed(len(placed), timeout=120)
    except AssertionError:
        got = {d["_id"] for d in rig.documents()}
        missing = {i: placed[i] for i in placed if i not in got}
        pytest.fail(f"{len(missing)} of {len(placed)} not indexed: {missing}; jumps: {jumps}")
    ids = Counter(d["_id"] for d in rig.documents())
    assert set(ids) == set(placed)
    assert all(n == 1 for n in ids.values())
    assert jumps == [], jumps
    assert all(w.alive() for w in base)
