"""The negative-share thresholds of the alert rules, to draw on the overview's chart.

Read straight from the rule YAML (``alert_rules_path``, else the rules bundled with
``alerts/``): only ``negative_share`` conditions have a fixed line to draw. A file that does
not parse is skipped here; ``moodwatch alerts rules check`` is where rule errors are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Threshold:
    rule: str
    share: float
    channel: str | None


def rule_files(path: Path | None) -> list[Path]:
    if path is None:
        import alerts

        path = Path(alerts.__file__).parent / "rules"
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
    return []


def _rules(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)]
    if isinstance(data, dict):
        if isinstance(data.get("rules"), list):
            return _rules(data["rules"])
        return [data]
    return []


def negative_share_thresholds(path: Path | None) -> list[Threshold]:
    found: list[Threshold] = []
    for file in rule_files(path):
        try:
            documents = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError):
            continue
        for document in documents:
            for rule in _rules(document):
                condition = rule.get("condition") or {}
                above = condition.get("above") if isinstance(condition, dict) else None
                if condition.get("type") != "negative_share" or not isinstance(above, int | float):
                    continue
                channel = (rule.get("filter") or {}).get("channel")
                found.append(Threshold(str(rule.get("name", file.stem)), float(above), channel))
    return found
