"""The command line's exit codes, light imports and the README's command table."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from moodwatch.cli import COMMANDS, EPILOG, cli, exit_code
from moodwatch.errors import EXIT_ERROR, EXIT_UNAVAILABLE, EXIT_USAGE, MoodwatchError
from stream.errors import IndexUnavailable, KafkaUnavailable, StreamError

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

# Runs a command in a fresh interpreter and reports its exit code and what it imported.
_PROBE = """
import json, sys
from click.testing import CliRunner
from moodwatch.cli import cli
result = CliRunner().invoke(cli, sys.argv[1:])
heavy = sorted(m for m in ("faust", "torch", "transformers") if m in sys.modules)
print(json.dumps({"exit": result.exit_code, "output": result.output, "heavy": heavy}))
"""


def probe(*args: str, **env: str) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True,
        env={**os.environ, **env}, cwd=ROOT, timeout=120,
    )
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_index_commands_need_neither_faust_nor_torch_and_an_unreachable_es_exits_3() -> None:
    # Port 9 (discard) refuses connections: Elasticsearch is "down".
    result = probe("index", "status", MOODWATCH_ES_HOSTS="http://127.0.0.1:9")
    assert result["heavy"] == [], "moodwatch index must not import Faust or torch"
    assert result["exit"] == EXIT_UNAVAILABLE
    assert "cannot reach Elasticsearch" in str(result["output"])
    assert "Traceback" not in str(result["output"])


def test_an_unreachable_kafka_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("hello\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["feed", str(path), "--channel", "news", "--no-progress"],
        env={"MOODWATCH_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"},
    )
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    assert "cannot reach Kafka" in result.output


def test_usage_errors_exit_2_and_moodwatch_errors_exit_1(tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["no-such-command"]).exit_code == EXIT_USAGE == 2
    assert CliRunner().invoke(cli, ["feed", "--channel", "sms", "x"]).exit_code == EXIT_USAGE
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["feed", str(bad), "--channel", "news"])
    assert result.exit_code == EXIT_ERROR == 1
    assert "error:" in result.output and "Traceback" not in result.output


def test_exit_code_of_each_kind_of_error() -> None:
    assert exit_code(StreamError("refused")) == EXIT_ERROR
    assert exit_code(KafkaUnavailable("down")) == EXIT_UNAVAILABLE
    assert exit_code(IndexUnavailable("down")) == EXIT_UNAVAILABLE

    class KafkaConnectionError(Exception):  # what aiokafka raises, found by name
        pass

    wrapped = StreamError("cannot read 'dead-letter'")
    wrapped.__cause__ = KafkaConnectionError("Unable to bootstrap")  # as `raise ... from exc`
    assert exit_code(wrapped) == EXIT_UNAVAILABLE
    assert exit_code(MoodwatchError("x")) == EXIT_ERROR


def test_help_and_readme_list_the_exit_codes() -> None:
    shown = CliRunner().invoke(cli, ["--help"]).output
    readme = README.read_text(encoding="utf-8")
    for code in (EXIT_ERROR, EXIT_USAGE, EXIT_UNAVAILABLE):
        assert re.search(rf"^\s+{code}\s+\S", shown, re.MULTILINE), shown
        assert re.search(rf"^\| {code} \| ", readme, re.MULTILINE), f"README lacks exit code {code}"
    assert "Exit codes" in EPILOG


def _all_commands() -> list[str]:
    """Every command and sub-command as typed, e.g. 'dlq replay'."""
    found: list[str] = []

    def walk(command: click.Command, prefix: str) -> None:
        if isinstance(command, click.Group):
            context = click.Context(command)
            for name in command.list_commands(context):
                child = command.get_command(context, name)
                assert child is not None
                walk(child, f"{prefix} {name}".strip())
        else:
            found.append(prefix)

    walk(cli, "")
    return found


def test_readme_command_table_has_every_command_and_sub_command() -> None:
    readme = README.read_text(encoding="utf-8")
    table = readme[readme.index("## The command line"):readme.index("## Sending messages")]
    listed = set(re.findall(r"^\| `moodwatch ([a-z -]+?)(?: [A-Z\[-].*?)?`", table, re.MULTILINE))
    commands = _all_commands()
    assert {c.split()[0] for c in commands} == set(COMMANDS)
    missing = [c for c in commands if c not in listed]
    assert not missing, f"README's command table lacks: {missing}"
