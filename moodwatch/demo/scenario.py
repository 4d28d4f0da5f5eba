"""The first run's story, replayed in real time: a calm baseline, an outage, a recovery.

The bundled samples (``stream/samples``) mark each message's phase. The scenario sends calm
messages of both channels at a steady rate, switches to the outage's messages after
``burst_after_s`` (chat at a higher rate, as a flooded queue does) for ``burst_for_s``, then the
recovery messages once, then calm again for as long as it runs. Every message gets an id of its
own (sample id + run tag + sequence), so a second run never overwrites the first.

A labeller is simulated too: from ``labels_after_s`` on, it labels sample messages it has seen
go out (sentiments we wrote by hand in ``stream/samples/labels.jsonl``) at a person's pace, up to
``max_labels``, on the labels topic, as the dashboard's label queue would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from moodwatch.settings import Settings
from stream.feeder import encode_row
from stream.labels import Label
from stream.publisher import Publisher

SAMPLES = Path(str(resources.files("stream").joinpath("samples")))
CHANNELS = ("chat", "news")
LABELER = "demo-labeller"
# A label is sent this long after its message, so the worker has indexed the message by then.
LABEL_DELAY_S = 10.0


@dataclass(frozen=True)
class Timeline:
    """When things happen, in seconds since the stream started, and how fast."""

    rate: float = 5.0  # messages per second in calm times, both channels together
    burst_after_s: float = 30.0
    burst_for_s: float = 90.0
    burst_chat_factor: float = 2.5  # chat rate during the outage, against calm
    labels_after_s: float = 20.0
    label_every_s: float = 1.5
    max_labels: int = 60

    def phase(self, elapsed_s: float) -> str:
        if elapsed_s < self.burst_after_s:
            return "calm"
        if elapsed_s < self.burst_after_s + self.burst_for_s:
            return "burst"
        return "after"

    def channel_rate(self, channel: str, phase: str) -> float:
        share = 0.6 if channel == "chat" else 0.4
        rate = self.rate * share
        if phase == "burst" and channel == "chat":
            rate *= self.burst_chat_factor
        return rate


def load_samples(folder: Path = SAMPLES) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{channel: {phase: [rows]}}`` from the bundled sample files."""
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for channel in CHANNELS:
        phases: dict[str, list[dict[str, Any]]] = {}
        with (folder / f"{channel}.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    row = json.loads(line)
                    phases.setdefault(row["metadata"]["phase"], []).append(row)
        samples[channel] = phases
    return samples


def load_labels(folder: Path = SAMPLES) -> dict[str, str]:
    """Our hand-written sentiment for some sample messages: ``{sample id: sentiment}``."""
    with (folder / "labels.jsonl").open(encoding="utf-8") as lines:
        return {
            row["id"]: row["sentiment"] for row in map(json.loads, lines) if row.get("sentiment")
        }


class ChannelScript:
    """The rows one channel sends, phase by phase: calm on a loop, the outage on a loop while
    it lasts, then the recovery once, then calm again."""

    def __init__(self, phases: dict[str, list[dict[str, Any]]]) -> None:
        self._calm = itertools.cycle(phases.get("calm", []))
        self._burst = itertools.cycle(phases.get("burst", []))
        self._after: Iterator[dict[str, Any]] = itertools.chain(
            phases.get("recovery", []), self._calm
        )

    def next_row(self, phase: str) -> dict[str, Any]:
        source = {"calm": self._calm, "burst": self._burst}.get(phase, self._after)
        return dict(next(source))


@dataclass
class Progress:
    """What the scenario has done so far (read by the demo's status lines)."""

    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANNELS, 0))
    labels_sent: int = 0
    phase: str = "calm"

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())


class Scenario:
    """Sends the story to Kafka until ``stop`` is set."""

    def __init__(self, settings: Settings, timeline: Timeline, run_tag: str) -> None:
        self.settings = settings
        self.timeline = timeline
        self.run_tag = run_tag
        self.progress = Progress()
        samples = load_samples()
        self._scripts = {channel: ChannelScript(samples[channel]) for channel in CHANNELS}
        self._truth = load_labels()
        self._to_label: deque[tuple[float, str, str]] = deque()  # (due, message id, sentiment)
        self._labelled: set[str] = set()
        self._sequence = itertools.count(1)
        self._started = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self._started if self._started else 0.0

    async def run(self, stop: asyncio.Event) -> None:
        async with Publisher(self.settings) as publisher:
            for channel in CHANNELS:
                await publisher.require_topic(self.settings.input_topics[channel])
            await publisher.require_topic(self.settings.topic_labels)
            self._started = time.monotonic()
            tasks = [
                asyncio.ensure_future(self._send_channel(publisher, channel, stop))
                for channel in CHANNELS
            ]
            tasks.append(asyncio.ensure_future(self._send_labels(publisher, stop)))
            try:
                await stop.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_channel(self, publisher: Publisher, channel: str, stop: asyncio.Event) -> None:
        topic = self.settings.input_topics[channel]
        script = self._scripts[channel]
        due = time.monotonic()
        while not stop.is_set():
            phase = self.timeline.phase(self.elapsed())
            self.progress.phase = phase
            row = script.next_row(phase)
            sample_id = row["id"]
            row["id"] = f"{sample_id}.{self.run_tag}.{next(self._sequence)}"
            row["created_at"] = datetime.now(UTC).isoformat()
            value, key = encode_row(row)
            await publisher.send(topic, value, key)
            self.progress.sent[channel] += 1
            truth = self._truth.get(sample_id)
            if truth is not None and sample_id not in self._labelled:
                self._labelled.add(sample_id)
                self._to_label.append((time.monotonic() + LABEL_DELAY_S, row["id"], truth))
            due += 1.0 / self.timeline.channel_rate(channel, phase)
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def _send_labels(self, publisher: Publisher, stop: asyncio.Event) -> None:
        timeline = self.timeline
        await asyncio.sleep(timeline.labels_after_s)
        while not stop.is_set() and self.progress.labels_sent < timeline.max_labels:
            if self._to_label and self._to_label[0][0] <= time.monotonic():
                _, message_id, sentiment = self._to_label.popleft()
                label = Label(message_id, LABELER, datetime.now(UTC), sentiment=sentiment)
                await publisher.send(
                    self.settings.topic_labels, label.to_bytes(), message_id.encode("utf-8")
                )
                self.progress.labels_sent += 1
                await asyncio.sleep(timeline.label_every_s)
            else:
                await asyncio.sleep(0.2)
