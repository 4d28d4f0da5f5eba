"""`moodwatch demo stop` trusts a pid file only as far as `infra` does: alive, not a zombie, and
running the demo worker's command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra import pidfile
from moodwatch.cli import cli

# Stands in for `python -m moodwatch worker`: same command line, but it only waits to be stopped.
_FAKE_MAIN = "import time\nwhile True:\n    time.sleep(1)\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MOODWATCH_INFRA_HOME", str(tmp_path / "var"))
    return tmp_path / "var"


def stop() -> str:
    result = CliRunner().invoke(cli, ["demo", "stop", "--keep-services"])
    assert result.exit_code == 0, result.output
    return result.output


def test_stops_the_demo_worker_its_pid_file_names(home: Path, tmp_path: Path) -> None:
    (tmp_path / "stand_in" / "moodwatch").mkdir(parents=True)
    (tmp_path / "stand_in" / "moodwatch" / "__main__.py").write_text(_FAKE_MAIN)
    worker = subprocess.Popen([sys.executable, "-m", "moodwatch", "worker"],
                              cwd=tmp_path / "stand_in")
    try:
        pidfile.write_pid(home / "demo" / "worker.pid", worker.pid)
        assert f"worker {worker.pid} stopped" in stop()
        assert worker.wait(timeout=10) is not None
        assert not (home / "demo" / "worker.pid").exists()
    finally:
        worker.kill()


def test_a_recycled_pid_is_left_alone_and_the_stale_file_removed(home: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pidfile.write_pid(home / "demo" / "worker.pid", stranger.pid)
        assert "no demo process was running" in stop()
        assert stranger.poll() is None, "demo stop signalled a process that is not its worker"
        assert not (home / "demo" / "worker.pid").exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_garbage_in_the_pid_file_is_no_worker(home: Path) -> None:
    (home / "demo").mkdir(parents=True)
    (home / "demo" / "worker.pid").write_text("not a pid\n")
    assert "no demo process was running" in stop()
    assert not (home / "demo" / "worker.pid").exists()
