"""The machine: Python, Java and Maven (for the local services), memory and disk.

Cheap and local: nothing here opens a network connection. Java is asked for its version
(``java -version``, a JVM start, bounded by the timeout); Maven's version is read from its
``maven-core`` jar instead of starting a second JVM.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from moodwatch.doctor.findings import Finding, fail, ok, warn

GIB = 1024**3
PYTHON_SUPPORTED = ((3, 11), (3, 12))  # pyproject: requires-python >=3.11,<3.12
JAVA_MIN = 17
# The two local JVMs want ~2 GB, training the default model ~2 GB more (README, Troubleshooting).
MEMORY_WARN_BYTES = 3 * GIB
MEMORY_FAIL_BYTES = 1 * GIB
# The local Elasticsearch turns its disk watermarks off, so a full disk fails writes outright.
DISK_WARN_BYTES = 5 * GIB
DISK_FAIL_BYTES = 1 * GIB

_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?[^"]*"')


def check_python(version: tuple[int, int] | None = None) -> Finding:
    major_minor = version or (sys.version_info.major, sys.version_info.minor)
    shown = f"{major_minor[0]}.{major_minor[1]}" if version else platform.python_version()
    low, high = PYTHON_SUPPORTED
    if low <= major_minor < high:
        return ok("python", f"Python {shown} ({sys.executable})", version=shown)
    return fail(
        "python",
        f"Python {shown} is not supported (moodwatch needs 3.11)",
        "install Python 3.11 and recreate the virtualenv: `rm -rf .venv && make setup`",
        version=shown,
    )


def parse_java_version(output: str) -> int | None:
    """The feature release of ``java -version`` output (``1.8.0`` → 8, ``17.0.15`` → 17)."""
    match = _JAVA_VERSION.search(output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java(needed: bool, timeout_s: float) -> Finding:
    """``needed``: the local services are configured (not a remote or Docker Kafka/ES)."""
    java = shutil.which("java")
    advice = "install JDK 17 (Debian: `apt-get install openjdk-17-jdk-headless`)"
    if java is None:
        return _missing("java", "no `java` on PATH", advice, needed)
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _missing("java", f"`{java} -version` did not answer: {exc}", advice, needed)
    release = parse_java_version(done.stderr + done.stdout)
    if release is None or release < JAVA_MIN:
        found = f"{java} is Java {release or '?'}; need {JAVA_MIN}+"
        return _missing("java", found, advice, needed)
    return ok("java", f"Java {release} ({java})", version=release, path=java)


def maven_version(mvn: Path) -> str | None:
    """Read from ``lib/maven-core*.jar`` beside the resolved ``bin/mvn``; None if not found."""
    lib = mvn.resolve().parent.parent / "lib"
    for jar in sorted(lib.glob("maven-core*.jar")):
        try:
            with zipfile.ZipFile(jar.resolve()) as archive:
                text = archive.read(
                    "META-INF/maven/org.apache.maven/maven-core/pom.properties"
                ).decode("utf-8", "replace")
        except (OSError, KeyError, zipfile.BadZipFile):
            continue
        for line in text.splitlines():
            if line.startswith("version="):
                return line.removeprefix("version=").strip()
    return None


def check_maven(needed: bool, jars_fetched: bool) -> Finding:
    """Maven only fetches the services' jars once: with them in place it is not needed."""
    mvn = shutil.which("mvn")
    if mvn is None:
        summary = "no `mvn` on PATH"
        advice = "install Maven 3.8+ (Debian: `apt-get install maven`)"
        if jars_fetched:
            return warn("maven", summary + " (the jars are already fetched)", advice)
        return _missing("maven", summary, advice, needed)
    version = maven_version(Path(mvn)) or "unknown version"
    return ok("maven", f"Maven {version} ({mvn})", version=version, path=mvn)


def _missing(check: str, summary: str, advice: str, needed: bool) -> Finding:
    if needed:
        return fail(check, summary + "; `moodwatch infra up` needs it", advice)
    return warn(check, summary + " (only `moodwatch infra up` needs it)", advice)


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """``MemAvailable`` in bytes, or None where /proc/meminfo is missing (not Linux)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(available: int | None) -> Finding:
    if available is None:
        return warn("memory", "could not read available memory", "check it yourself: `free -m`")
    shown = f"{available / GIB:.1f} GiB available"
    fix = (
        "free memory, or shrink the local JVMs: MOODWATCH_KAFKA_HEAP=256m "
        "MOODWATCH_ES_HEAP=512m (training the default model needs ~2 GB more)"
    )
    if available < MEMORY_FAIL_BYTES:
        return fail("memory", shown + " (under 1 GiB)", fix, available_bytes=available)
    if available < MEMORY_WARN_BYTES:
        return warn("memory", shown + " (under 3 GiB)", fix, available_bytes=available)
    return ok("memory", shown, available_bytes=available)


def check_disk(folder: Path, free: int | None = None) -> Finding:
    """Free space on the file system holding ``folder`` (its nearest existing parent)."""
    existing = folder.resolve()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free_bytes = shutil.disk_usage(existing).free if free is None else free
    shown = f"{free_bytes / GIB:.1f} GiB free under {existing}"
    fix = (
        f"free space under {existing} (local Kafka/ES data, jars, model registry); "
        "`moodwatch infra status` shows what the services use"
    )
    if free_bytes < DISK_FAIL_BYTES:
        return fail("disk", shown + " (under 1 GiB)", fix, free_bytes=free_bytes)
    if free_bytes < DISK_WARN_BYTES:
        return warn("disk", shown + " (under 5 GiB)", fix, free_bytes=free_bytes)
    return ok("disk", shown, free_bytes=free_bytes, path=str(existing))
