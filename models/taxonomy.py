"""Topics per channel, read from a YAML file; the model scores new topics zero-shot."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from models.errors import TaxonomyError

OTHER = "other"
BUNDLED = "taxonomy.yaml"


@dataclass(frozen=True)
class Topic:
    channel: str
    slug: str
    description: str

    @property
    def key(self) -> str:
        """Unique across channels: ``chat/refunds``."""
        return f"{self.channel}/{self.slug}"

    @property
    def prompt(self) -> str:
        """Text the encoder embeds for zero-shot scoring."""
        return f"{self.slug.replace('_', ' ')}: {self.description}"


@dataclass(frozen=True)
class Taxonomy:
    topics: tuple[Topic, ...]
    min_topic_confidence: float = 0.35

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.channel for t in self.topics))

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.topics)

    def for_channel(self, channel: str) -> tuple[Topic, ...]:
        return tuple(t for t in self.topics if t.channel == channel)

    def index(self, channel: str, slug: str) -> int:
        key = f"{channel}/{slug}"
        try:
            return self.keys.index(key)
        except ValueError:
            raise TaxonomyError(f"unknown topic {slug!r} for channel {channel!r}") from None

    def to_yaml(self) -> str:
        channels: dict[str, dict[str, str]] = {}
        for topic in self.topics:
            channels.setdefault(topic.channel, {})[topic.slug] = topic.description
        data = {"version": 1, "min_topic_confidence": self.min_topic_confidence}
        return yaml.safe_dump({**data, "channels": channels}, sort_keys=False, allow_unicode=True)


def parse_taxonomy(text: str, origin: str = "<taxonomy>") -> Taxonomy:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("channels"), dict):
        raise TaxonomyError(f"{origin}: expected a mapping with a 'channels' mapping")
    topics: list[Topic] = []
    for channel, entries in data["channels"].items():
        if not isinstance(entries, dict) or not entries:
            raise TaxonomyError(
                f"{origin}: channel {channel!r} needs a mapping of topic: description"
            )
        for slug, description in entries.items():
            if not isinstance(description, str) or not description.strip():
                raise TaxonomyError(
                    f"{origin}: topic {channel}/{slug} needs a one-line description"
                )
            topics.append(Topic(str(channel), str(slug), description.strip()))
        if OTHER not in entries:
            raise TaxonomyError(f"{origin}: channel {channel!r} must keep an '{OTHER}' topic")
    threshold = data.get("min_topic_confidence", 0.35)
    if not isinstance(threshold, int | float) or not 0 <= threshold < 1:
        raise TaxonomyError(f"{origin}: min_topic_confidence must be a number in [0, 1)")
    return Taxonomy(tuple(topics), float(threshold))


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Read the taxonomy at ``path``, or the one bundled with moodwatch."""
    if path is None:
        text = resources.files("models").joinpath(BUNDLED).read_text(encoding="utf-8")
        return parse_taxonomy(text, "bundled taxonomy.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaxonomyError(f"cannot read taxonomy file {path}: {exc.strerror}") from exc
    return parse_taxonomy(text, str(path))
