"""Rule files: validated before they run, problems name file, rule and field; hot reload."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alerts.errors import RuleError
from alerts.loading import RuleBook, bundled_rules_path, load_rules, parse_rules
from alerts.rules import ModelDrift, Spike

GOOD = """
name: chat-spike
filter: {channel: chat}
group_by: topic
window: 5m
condition: {type: spike, min_ratio: 2, min_z: 3}
"""


def test_bundled_example_rules_are_valid_and_cover_every_condition() -> None:
    rules = load_rules(bundled_rules_path())
    kinds = {rule.condition.type for rule in rules}
    assert kinds == {"negative_share", "spike", "volume", "model_drift"}
    drift = [r for r in rules if isinstance(r.condition, ModelDrift)]
    assert all(r.effective_route == "model" for r in drift)


def test_durations_and_defaults() -> None:
    (rule,) = parse_rules(GOOD, "good.yaml")
    assert rule.window == timedelta(minutes=5)
    assert isinstance(rule.condition, Spike)
    assert rule.group_field == "topic.label"
    assert rule.effective_route == "market"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("5m", "5 parsecs"), "rule 'chat-spike': window: expected a duration"),
        (GOOD.replace("min_ratio: 2", "min_ratio: 0.5"), "condition.min_ratio"),
        (GOOD.replace("group_by: topic", "group_by: planet"), "group_by"),
        (GOOD.replace("type: spike", "type: vibes"), "condition"),
        (GOOD + "colour: red\n", "rule 'chat-spike': colour: Extra inputs"),
        ("- name: a\n  condition: {type: volume}\n", "rule 'a': condition: give above, below"),
        ("condition: {type: volume, above: 3}\n", "rule #1: name: Field required"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_rule_is_refused_naming_file_rule_and_field(text: str, expected: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules(text, "rules/bad.yaml")
    assert any(p.startswith("rules/bad.yaml: ") and expected in p for p in caught.value.problems), (
        caught.value.problems
    )


def test_a_bad_file_is_refused_while_good_rules_keep_running(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\ncondition: {type: negative_share, above: 2}\n")
    book = RuleBook(tmp_path)
    book.reload()
    assert [r.name for r in book.rules] == ["chat-spike"]
    assert any("bad.yaml: rule 'broken': condition.above" in p for p in book.problem_lines())


def test_reload_swaps_changed_files_and_keeps_the_last_good_version(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    book = RuleBook(path)
    assert book.reload() is True
    assert book.reload() is False  # same content hash: nothing re-parsed
    path.write_text(GOOD.replace("window: 5m", "window: 10m"))
    assert book.reload() is True
    assert book.rules[0].window == timedelta(minutes=10)
    path.write_text(GOOD.replace("window: 5m", "window: nope"))
    assert book.reload() is False
    assert book.rules[0].window == timedelta(minutes=10)  # last good version keeps running
    assert book.problem_lines()
    path.write_text(GOOD)
    assert book.reload() is True
    assert book.problem_lines() == []


def test_a_name_defined_in_two_files_runs_once_and_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    book = RuleBook(tmp_path)
    book.reload()
    assert len(book.rules) == 1
    assert any(
        "b.yaml: rule 'chat-spike': name: already defined" in p for p in book.problem_lines()
    )
