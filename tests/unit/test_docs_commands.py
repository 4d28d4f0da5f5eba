"""Every command the docs show works as written, and every name they use exists.

The shell code blocks of README.md and docs/*.md are read line by line (continuations joined,
comments dropped, pipelines split); each ``moodwatch ...`` command is parsed against the real
click CLI, each ``python -m bench.X`` must name a module in bench/, each ``make X`` a Makefile
target. Setting variables and metric names in docs/ must be real ones, and the message table
must be the one stream/contract.py generates.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from moodwatch.settings import Settings
from stream.contract import markdown_table
from tests.unit.command_lines import command_problem

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console"}
FENCE = re.compile(r"^```(\w*)\s*$")
SEPARATORS = {"|", "||", "&&", ";"}


def shell_blocks(text: str) -> list[str]:
    """The bodies of fenced code blocks in a shell language (or none given)."""
    blocks: list[str] = []
    body: list[str] = []
    language: str | None = None
    for line in text.splitlines():
        match = FENCE.match(line.strip())
        if match and language is None:
            language, body = match.group(1), []
        elif line.strip() == "```" and language is not None:
            if language in SHELL_LANGUAGES:
                blocks.append("\n".join(body))
            language = None
        elif language is not None:
            body.append(line)
    return blocks


def command_lines(block: str) -> list[list[str]]:
    """Each simple command of a block as argv: continuations joined, comments and leading
    ``VAR=value`` assignments dropped, pipelines and ``&&`` lists split."""
    commands = []
    pending = ""
    for line in block.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        lexer = shlex.shlex(pending, posix=True, punctuation_chars="|&;")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:  # a quote closes on a later line: read on
            continue
        pending = ""
        current: list[str] = []
        for token in [*tokens, ";"]:
            if token in SEPARATORS:
                while current and re.match(r"^[A-Z_][A-Z0-9_]*=", current[0]):
                    current.pop(0)
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(token)
    return commands


def documented_commands() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for page in PAGES:
        for block in shell_blocks(page.read_text(encoding="utf-8")):
            found.extend((page.relative_to(ROOT).as_posix(), argv) for argv in command_lines(block))
    return found


COMMANDS = documented_commands()
MOODWATCH = [(page, argv) for page, argv in COMMANDS if argv[0] == "moodwatch"]


def test_the_extractor_finds_what_a_reader_would_type() -> None:
    block = (
        "# a comment\n"
        "moodwatch feed x.csv --channel news \\\n    --rate 5   # trailing comment\n"
        "printf 'a\\nb\\n' | moodwatch feed - --channel chat\n"
        "MOODWATCH_LOG_LEVEL=debug moodwatch worker && make stop\n"
    )
    assert command_lines(block) == [
        ["moodwatch", "feed", "x.csv", "--channel", "news", "--rate", "5"],
        ["printf", "a\\nb\\n"],
        ["moodwatch", "feed", "-", "--channel", "chat"],
        ["moodwatch", "worker"],
        ["make", "stop"],
    ]
    fenced = "text\n```sh\nmoodwatch doctor\n```\n```yaml\nname: x\n```\n"
    assert shell_blocks(fenced) == ["moodwatch doctor"]


def test_the_docs_show_many_commands() -> None:
    # Guards the extractor: if it silently found nothing, every test below would pass.
    assert len(MOODWATCH) >= 45
    pages = {page for page, _ in MOODWATCH}
    assert {"README.md", "docs/quickstart.md", "docs/alert-rules.md"} <= pages


def test_a_wrong_command_is_caught() -> None:
    assert command_problem(["moodwatch", "alerts", "backtest", "r", "--form", "now-1h"])
    assert command_problem(["moodwatch", "feed", "x", "--channel", "email"])
    assert command_problem(["moodwatch", "retrain", "later"])


@pytest.mark.parametrize(("page", "argv"), MOODWATCH, ids=[" ".join(a) for _, a in MOODWATCH])
def test_documented_moodwatch_command_parses(page: str, argv: list[str]) -> None:
    problem = command_problem(argv)
    assert problem is None, f"{page}: {problem}"


def test_documented_bench_modules_and_make_targets_exist() -> None:
    targets = set(re.findall(r"^([a-zA-Z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    for page, argv in COMMANDS:
        python = argv[0].rsplit("/", 1)[-1].startswith("python")
        if python and argv[1:2] == ["-m"] and argv[2].startswith("bench."):
            module = ROOT / (argv[2].replace(".", "/") + ".py")
            assert module.is_file(), f"{page}: {' '.join(argv)}: no {module.name} in bench/"
        if argv[0] == "make":
            missing = [t for t in argv[1:] if not t.startswith("-") and t not in targets]
            assert not missing, f"{page}: {' '.join(argv)}: no Makefile target {missing}"


def _metric_names() -> set[str]:
    sources = [ROOT / "stream" / "metrics.py", ROOT / "alerts" / "metrics.py"]
    return {name for path in sources for name in re.findall(r'"(moodwatch_\w+)"', path.read_text())}


def test_docs_name_only_real_metrics_and_settings() -> None:
    metrics = _metric_names()
    settings = {f"MOODWATCH_{name.upper()}" for name in Settings.model_fields}
    # Knobs of opt-in tests (the rebalance soak) are documented too; they must exist in a test.
    settings |= {
        name
        for path in (ROOT / "tests").rglob("*.py")
        for name in re.findall(r'environ\.get\("(MOODWATCH_\w+)"', path.read_text())
    }
    assert "moodwatch_messages_indexed" in metrics
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for name in set(re.findall(r"\bmoodwatch_[a-z_]+", text)):
            base = re.sub(r"_(total|bucket|sum|count)$", "", name)
            assert base in metrics, f"{page.name}: no metric {name}"
        for variable in set(re.findall(r"\bMOODWATCH_[A-Z0-9_]*[A-Z0-9]\b", text)):
            assert variable in settings, f"{page.name}: no setting {variable}"


def test_message_contract_page_carries_the_generated_table() -> None:
    text = (ROOT / "docs" / "message-contract.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- contract:[^\n]*-->\n(.*?)<!-- /contract -->", text, re.S)
    assert found, "docs/message-contract.md lost its contract markers"
    assert found.group(1) == markdown_table(), "paste `python -m stream.contract` into the page"
