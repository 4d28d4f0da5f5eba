"""Fetch the services' jars from Maven Central once, and compile our Elasticsearch launcher.

Each jar folder under ``<infra_home>/jars`` is complete when its marker file holds the hash of
what produced it (the pom, plus the launcher sources for the launcher). A matching marker skips
Maven entirely, so a warm start costs no JVM for fetching; an edited pom or source refetches or
recompiles. Maven keeps its own cache in ``~/.m2``, so even a refetch downloads nothing twice.
Folders are filled beside their final place and renamed into it, so an interrupted fetch never
leaves a folder that looks complete.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from infra.config import SOURCES, JarFolders, ServiceName
from moodwatch.errors import InfraError

MARKER = ".moodwatch-complete"
FETCH_TIMEOUT_S = 900.0
COMPILE_TIMEOUT_S = 300.0

KAFKA_POM = SOURCES / "kafka" / "pom.xml"
ELASTICSEARCH_POM = SOURCES / "elasticsearch" / "pom.xml"
LAUNCHER_SOURCES = SOURCES / "elasticsearch" / "src" / "main" / "java"


def tool(name: str, hint: str) -> str:
    """Absolute path of a command-line tool, or an InfraError saying how to install it."""
    found = shutil.which(name)
    if found is None:
        raise InfraError(f"'{name}' is not on PATH: {hint}")
    return found


def java() -> str:
    return tool("java", "install JDK 17 (Debian: apt-get install openjdk-17-jdk-headless)")


def ensure_jars(folders: JarFolders, name: ServiceName) -> None:
    """Make the jar folder(s) of a service complete; quick when they already are."""
    if name == "kafka":
        _ensure_folder(
            folders.kafka, _digest([KAFKA_POM]), lambda dest: _maven_copy(KAFKA_POM, dest)
        )
        return
    _ensure_folder(
        folders.elasticsearch,
        _digest([ELASTICSEARCH_POM]),
        lambda dest: _maven_copy(ELASTICSEARCH_POM, dest),
    )
    sources = sorted(LAUNCHER_SOURCES.rglob("*.java"))
    # The launcher depends on the exact server jars: a new pom recompiles it too.
    _ensure_folder(
        folders.launcher,
        _digest([ELASTICSEARCH_POM, *sources]),
        lambda dest: _compile_launcher(sources, folders.elasticsearch, dest),
    )


def is_complete(folder: Path, digest: str) -> bool:
    marker = folder / MARKER
    return marker.is_file() and marker.read_text(encoding="ascii").strip() == digest


def _ensure_folder(folder: Path, digest: str, fill: Callable[[Path], None]) -> None:
    if is_complete(folder, digest):
        return
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    fill(partial)
    (partial / MARKER).write_text(digest + "\n", encoding="ascii")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def _digest(files: list[Path]) -> str:
    sha = hashlib.sha256()
    for file in files:
        sha.update(file.name.encode())
        sha.update(file.read_bytes())
    return sha.hexdigest()


def _maven_copy(pom: Path, dest: Path) -> None:
    mvn = tool("mvn", "install Maven 3.8+ (Debian: apt-get install maven)")
    _run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={dest}",
        ],
        what=f"fetching jars for {pom.parent.name} from Maven Central",
        timeout_s=FETCH_TIMEOUT_S,
    )
    if not any(dest.glob("*.jar")):
        raise InfraError(f"Maven finished but put no jar in {dest} (pom: {pom})")


def _compile_launcher(sources: list[Path], server_jars: Path, dest: Path) -> None:
    javac = tool("javac", "install a JDK 17, not only a JRE (Debian: openjdk-17-jdk-headless)")
    _run(
        [javac, "-nowarn", "--release", "17", "-cp", f"{server_jars}/*", "-d", str(dest)]
        + [str(source) for source in sources],
        what="compiling the Elasticsearch launcher",
        timeout_s=COMPILE_TIMEOUT_S,
    )


def _run(command: list[str], what: str, timeout_s: float) -> None:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{what} took longer than {timeout_s:.0f} s; command: {command}") from exc
    except OSError as exc:
        raise InfraError(f"{what} could not run {command[0]}: {exc}") from exc
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise InfraError(f"{what} failed (exit {done.returncode}):\n{output}")
