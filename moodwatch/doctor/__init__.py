"""``moodwatch doctor``: is this machine and its configuration ready to run moodwatch?

Each check returns :class:`Finding` values (ok / warn / fail, a one-line summary, and for a
problem the command or setting that fixes it); :func:`run_checkup` runs them all at once and
returns a :class:`Report` whose exit code is 0, 1 (something to fix) or 3 (a service cannot be
reached).

    host.py           Python, Java, Maven, memory, disk
    ports.py          each port: free, held by our service, or busy with something else
    kafka.py          brokers reachable, topics and partitions
    elasticsearch.py  cluster reachable, version, health, messages indexed
    state.py          model registry (current version, checksum), alert rules, retrain history
    checkup.py        all of them side by side, the report
"""

from moodwatch.doctor.checkup import Report, run_checkup
from moodwatch.doctor.findings import Finding, Status

__all__ = ["Finding", "Report", "Status", "run_checkup"]
