"""Loading rule files: one YAML file or a folder of them, validated, hot-reloaded by content hash.

A file holds one rule (a mapping), a list of rules, or ``{rules: [...]}``. A file is accepted
whole or refused whole; a refused file never stops the others. :class:`RuleBook` re-reads the
files on :meth:`RuleBook.reload`: an unchanged file (same SHA-256) is not parsed again, a changed
valid file replaces its rules, a changed invalid file keeps its last good rules running and
reports why, a deleted file takes its rules away.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from alerts.errors import RuleError
from alerts.rules import AlertRule

log = logging.getLogger(__name__)


def bundled_rules_path() -> Path:
    """The example rules shipped with the package (``alerts/rules``)."""
    return Path(str(resources.files("alerts") / "rules"))


def rule_files(path: Path) -> list[Path]:
    """``path`` itself, or the ``*.yaml`` / ``*.yml`` files of a folder (sorted)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if path.is_file():
        return [path]
    raise RuleError([f"{path}: no such file or folder"])


def parse_rules(text: str, origin: str) -> list[AlertRule]:
    """Validate every rule in ``text``; raise :class:`RuleError` naming file, rule and field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError([f"{origin}: not valid YAML: {exc}"]) from exc
    raw = _raw_rules(data, origin)
    rules: list[AlertRule] = []
    problems: list[str] = []
    for position, item in enumerate(raw, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        label = f"rule {name!r}" if isinstance(name, str) else f"rule #{position}"
        if not isinstance(item, dict):
            problems.append(f"{origin}: {label}: expected a mapping, got {type(item).__name__}")
            continue
        try:
            rules.append(AlertRule.model_validate(item))
        except ValidationError as exc:
            problems.extend(f"{origin}: {label}: {problem}" for problem in _field_problems(exc))
    names = [rule.name for rule in rules]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{origin}: rule {name!r}: name: used more than once in this file")
    if problems:
        raise RuleError(problems)
    return rules


def _raw_rules(data: Any, origin: str) -> list[Any]:
    if data is None:
        return []
    if isinstance(data, dict) and set(data) == {"rules"}:
        data = data["rules"]
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise RuleError([f"{origin}: expected a rule, a list of rules or {{rules: [...]}}"])


def _field_problems(exc: ValidationError) -> Iterable[str]:
    for error in exc.errors():
        # Drop pydantic's union-member tags (e.g. "spike") so the path reads like the YAML.
        loc = [
            str(p)
            for p in error["loc"]
            if not (
                isinstance(p, str)
                and p.islower()
                and p in ("negative_share", "spike", "volume", "model_drift")
            )
        ]
        where = ".".join(loc) or "(rule)"
        message = str(error["msg"]).removeprefix("Value error, ")
        yield f"{where}: {message}"


def load_rules(path: Path) -> list[AlertRule]:
    """Every rule under ``path``; any invalid file raises :class:`RuleError` (strict: for CI)."""
    book = RuleBook(path, report=False)
    book.reload()
    if book.problem_lines():
        raise RuleError(book.problem_lines())
    return book.rules


@dataclass
class _LoadedFile:
    digest: str
    rules: list[AlertRule]


@dataclass
class RuleBook:
    """The running rule set of one path, reloaded in place (see module docstring)."""

    path: Path
    files: dict[Path, _LoadedFile] = field(default_factory=dict)
    problems: dict[Path, list[str]] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    report: bool = True  # log loads and refusals (the alerter); off for one-shot checks

    @property
    def rules(self) -> list[AlertRule]:
        """Rules of every accepted file, first file wins on a duplicate name."""
        seen: dict[str, AlertRule] = {}
        for path in sorted(self.files):
            for rule in self.files[path].rules:
                seen.setdefault(rule.name, rule)
        return list(seen.values())

    def reload(self) -> bool:
        """Re-read the files; True when the running rules changed."""
        try:
            paths = rule_files(self.path)
        except RuleError as exc:
            self.problems = {self.path: exc.problems}
            return False
        changed = False
        for gone in set(self.files) - set(paths):
            del self.files[gone]
            self.problems.pop(gone, None)
            changed = True
        for path in paths:
            changed |= self._reload_file(path)
        self._refuse_duplicates()
        return changed

    def _reload_file(self, path: Path) -> bool:
        try:
            content = path.read_bytes()
        except OSError as exc:
            self.problems[path] = [f"{path}: cannot read: {exc.strerror}"]
            return False
        digest = hashlib.sha256(content).hexdigest()
        current = self.files.get(path)
        if current is not None and current.digest == digest:
            return False
        if self.problems.get(path) and self.problems[path][0].startswith(f"#{digest}"):
            return False  # the same broken content as last time: already reported
        try:
            rules = parse_rules(content.decode("utf-8", errors="replace"), str(path))
        except RuleError as exc:
            self.problems[path] = [f"#{digest}", *exc.problems]
            if self.report:
                log.error(
                    "alert rules refused (previous rules keep running): %s", "; ".join(exc.problems)
                )
            return False
        self.problems.pop(path, None)
        self.files[path] = _LoadedFile(digest, rules)
        if self.report:
            log.info("alert rules loaded from %s: %s", path, ", ".join(r.name for r in rules))
        return True

    def _refuse_duplicates(self) -> None:
        owner: dict[str, Path] = {}
        self.duplicates = []
        for path in sorted(self.files):
            for rule in self.files[path].rules:
                first = owner.setdefault(rule.name, path)
                if first != path:
                    self.duplicates.append(
                        f"{path}: rule {rule.name!r}: name: already defined in {first} (ignored)"
                    )

    def problem_lines(self) -> list[str]:
        """Human-readable problems of every refused file or rule (without content digests)."""
        lines = [p for found in self.problems.values() for p in found if not p.startswith("#")]
        return lines + self.duplicates
