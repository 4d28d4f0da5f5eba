"""Run every check side by side and judge the whole: the report ``moodwatch doctor`` prints.

Checks run in threads at once, each network probe bounded by ``timeout_s``, so the whole
checkup answers in a few seconds even with every service down. A check that raises something
unexpected becomes a failed finding naming the error: doctor itself never crashes.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from infra.config import jar_folders
from moodwatch.doctor import host, kafka, ports, state
from moodwatch.doctor.elasticsearch import (
    check_elasticsearch,
    is_local_elasticsearch,
    quick_client,
)
from moodwatch.doctor.findings import Finding, Status, fail
from moodwatch.errors import EXIT_ERROR, EXIT_UNAVAILABLE
from moodwatch.settings import Settings

DEFAULT_TIMEOUT_S = 2.0

Check = Callable[[], list[Finding]]


@dataclass(frozen=True)
class Report:
    findings: list[Finding]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status is Status.FAIL]

    @property
    def exit_code(self) -> int:
        """0 when nothing failed; 3 when a service is unreachable; else 1."""
        if not self.problems:
            return 0
        return EXIT_UNAVAILABLE if any(f.unreachable for f in self.problems) else EXIT_ERROR

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "exit_code": self.exit_code,
            "checks": [f.as_json() for f in self.findings],
        }

    def lines(self) -> list[str]:
        """One line per check, then each problem's fix indented under it."""
        marks = {Status.OK: "ok  ", Status.WARN: "warn", Status.FAIL: "FAIL"}
        out = []
        for finding in self.findings:
            out.append(f"{marks[finding.status]}  {finding.check:<14} {finding.summary}")
            if finding.fix:
                out.append(f"{'':20}fix: {finding.fix}")
        fails, warns = len(self.problems), sum(f.status is Status.WARN for f in self.findings)
        out.append(
            "all checks passed" + (f" ({warns} warnings)" if warns else "")
            if not fails
            else f"{fails} problem(s), {warns} warning(s)"
        )
        return out


def checks(settings: Settings, timeout_s: float) -> list[Check]:
    """Every check, in the order the report shows them."""
    local_infra = kafka.is_local_kafka(settings) or is_local_elasticsearch(settings)
    jars = jar_folders(settings)
    jars_fetched = any(jars.kafka.glob("*.jar")) and any(jars.elasticsearch.glob("*.jar"))
    port_checks: list[Check] = [
        partial(_port_check, use, timeout_s) for use in ports.port_uses(settings)
    ]
    return [
        lambda: [host.check_python()],
        lambda: [host.check_java(local_infra, max(timeout_s, 5.0))],
        lambda: [host.check_maven(local_infra, jars_fetched)],
        lambda: [host.check_memory(host.available_memory())],
        lambda: [host.check_disk(settings.infra_home)],
        *port_checks,
        lambda: kafka.check_kafka(settings, timeout_s),
        lambda: _elasticsearch_and_scheduler(settings, timeout_s),
        lambda: [state.check_registry(settings)],
        lambda: [state.check_rules(settings)],
    ]


def run_checkup(settings: Settings, timeout_s: float = DEFAULT_TIMEOUT_S) -> Report:
    planned = checks(settings, timeout_s)
    with ThreadPoolExecutor(max_workers=len(planned)) as pool:
        futures = [pool.submit(_guarded, check) for check in planned]
        findings = [finding for future in futures for finding in future.result()]
    return Report(findings)


def _port_check(use: ports.PortUse, timeout_s: float) -> list[Finding]:
    return [ports.check_port(use, timeout_s)]


def _elasticsearch_and_scheduler(settings: Settings, timeout_s: float) -> list[Finding]:
    client = quick_client(settings, timeout_s)
    try:
        reach = check_elasticsearch(settings, client)
        if reach.status is Status.FAIL and reach.unreachable:
            return [reach]
        return [reach, state.check_scheduler(settings, client)]
    finally:
        client.close()


def _guarded(check: Check) -> list[Finding]:
    try:
        return check()
    except Exception as exc:  # a broken check is a finding, not a crash
        name = getattr(check, "__name__", "check")
        return [fail(name, f"the check itself failed: {type(exc).__name__}: {exc}",
                     "report this with the output of `moodwatch doctor --json`")]
