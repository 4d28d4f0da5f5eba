"""The scheduler service: the retrain job on an interval or a cron schedule (APScheduler 3).

Each tick checks how many labels arrived since the last tried cut-off and runs the job only when
there are at least ``retrain_min_new_labels``. Within one process APScheduler keeps one run at a
time (``max_instances=1``), folds missed ticks into one (``coalesce``) and still runs a tick that
is late by less than ``retrain_misfire_grace_s``; across processes the Elasticsearch lock does.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from moodwatch.errors import MoodwatchError
from moodwatch.settings import Settings
from retrain.errors import LockHeld
from retrain.job import RetrainJob, RunResult

log = logging.getLogger(__name__)


@dataclass
class Tick:
    """What one scheduled check did (also logged, for operators and tests)."""

    pending: int
    ran: RunResult | None = None
    note: str = ""


class RetrainScheduler:
    """``start()`` blocks until ``stop()`` (or SIGINT/SIGTERM via the CLI)."""

    def __init__(self, settings: Settings, job: RetrainJob) -> None:
        self.settings = settings
        self.job = job
        self.scheduler = BlockingScheduler(timezone="UTC")
        self._stopped = threading.Event()

    def trigger(self) -> CronTrigger | IntervalTrigger:
        if self.settings.retrain_cron:
            return CronTrigger.from_crontab(self.settings.retrain_cron, timezone="UTC")
        return IntervalTrigger(seconds=self.settings.retrain_interval_minutes * 60, timezone="UTC")

    def tick(self) -> Tick:
        """One check: run the job if enough new labels arrived; never raises."""
        try:
            pending = self.job.pending_labels()
            if pending < self.settings.retrain_min_new_labels:
                tick = Tick(
                    pending,
                    note=f"{pending} new labels, waiting for "
                    f"{self.settings.retrain_min_new_labels}",
                )
            else:
                tick = Tick(pending, self.job.run(trigger="schedule"))
                tick.note = f"{tick.ran.outcome}: {tick.ran.reason}" if tick.ran else ""
        except LockHeld as exc:
            tick = Tick(-1, note=f"skipped: {exc}")
        except MoodwatchError as exc:
            tick = Tick(-1, note=f"failed: {exc}")
        except Exception as exc:  # the daemon outlives any one run; the run is recorded failed
            log.exception("retrain tick failed")
            tick = Tick(-1, note=f"failed: {type(exc).__name__}: {exc}")
        log.info("retrain tick: %s", tick.note)
        return tick

    def start(self, run_first: bool = True) -> None:
        self.scheduler.add_job(
            self.tick,
            self.trigger(),
            id="retrain",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=self.settings.retrain_misfire_grace_s,
            replace_existing=True,
        )
        if run_first:
            self.scheduler.add_job(self.tick, id="retrain-at-start", max_instances=1)
        log.info("retrain scheduler started: %s", self.trigger())
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
