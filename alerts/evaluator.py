"""One evaluation of one rule: measure, judge each group, move its track, write episodes.

The evaluator decides and records; it sends nothing. A transition that needs a notice adds
``pending`` notifications to the episode (``silenced`` when a silence covers it), in the same
conditional write that changes the episode, and the dispatcher delivers them afterwards. So a
crash between deciding and sending leaves the notice pending for the next leader, and a notice
is never decided twice.

Order of writes per group: the episode first (``create`` for a new one), then the track. A
leader that dies between the two leaves a track one step behind; its successor repeats the step,
finds the episode already created (conflict), adopts it and moves on — no duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from alerts.conditions import Verdict, judge
from alerts.episodes import Episode, NoticeKind, Notification, episode_id
from alerts.errors import ConflictError
from alerts.evidence import collect_evidence, dashboard_link
from alerts.query import Measurement, measure
from alerts.rules import AlertRule
from alerts.store import AlertStore, Silence, Version
from alerts.tracking import Track, Transition, step
from alerts.windows import GroupStats, WindowPlan

log = logging.getLogger(__name__)


@dataclass
class RuleOutcome:
    """What one evaluation of one rule did (for logs, metrics and tests)."""

    rule: str
    at: datetime
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    transitions: dict[str, Transition] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # episode ids with new pending notices
    groups_seen: int = 0
    truncated: bool = False


class Evaluator:
    """Evaluates rules for the lease holder, keeping each rule's tracks cached between cycles."""

    def __init__(
        self,
        client: Elasticsearch,
        store: AlertStore,
        messages_index: str,
        *,
        dashboard_url: str,
        notifiers: Sequence[str],
        measure_fn: Callable[[AlertRule, datetime], Measurement] | None = None,
        evidence_fn: Callable[[AlertRule, str, WindowPlan], dict[str, Any]] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.messages_index = messages_index
        self.dashboard_url = dashboard_url
        self.notifiers = list(notifiers)
        self._measure = measure_fn or (lambda rule, now: measure(client, messages_index, rule, now))
        self._evidence = evidence_fn or (
            lambda rule, group, plan: collect_evidence(client, messages_index, rule, group, plan)
        )
        self._tracks: dict[str, dict[str, tuple[Track, Version | None]]] = {}

    def forget(self) -> None:
        """Drop cached tracks (call on gaining the lease: another evaluator may have moved them)."""
        self._tracks.clear()

    def firing_count(self, rule: str) -> int:
        """Groups of ``rule`` with a firing episode, as last seen by this evaluator."""
        return sum(1 for track, _ in self._tracks.get(rule, {}).values() if track.firing)

    def evaluate(
        self, rule: AlertRule, now: datetime, silences: Sequence[Silence] = ()
    ) -> RuleOutcome:
        measurement = self._measure(rule, now)
        tracks = self._load_tracks(rule)
        outcome = RuleOutcome(
            rule.name, now, groups_seen=measurement.groups_seen, truncated=measurement.truncated
        )
        if measurement.truncated:
            log.warning(
                "rule %s: %d groups, evaluating the %d largest (group_limit)",
                rule.name,
                measurement.groups_seen,
                rule.group_limit,
            )
        firing_elsewhere = [
            g for g, (t, _) in tracks.items() if t.firing and g not in measurement.groups
        ]
        for group in [*measurement.groups, *firing_elsewhere]:
            stats = measurement.groups.get(group) or GroupStats.gone(group)
            verdict = judge(rule, stats)
            outcome.verdicts[group] = verdict
            transition, notice = self._advance(rule, group, verdict, measurement, now, silences)
            outcome.transitions[group] = transition
            if notice:
                outcome.notices.append(notice)
        return outcome

    # --- tracks ------------------------------------------------------------------------------
    def _load_tracks(self, rule: AlertRule) -> dict[str, tuple[Track, Version | None]]:
        if rule.name not in self._tracks:
            groups = self.store.known_groups(rule.name)
            loaded = self.store.get_tracks(rule.name, groups)
            self._tracks[rule.name] = {g: (t, v) for g, (t, v) in loaded.items()}
        return self._tracks[rule.name]

    def _reload_track(self, rule: AlertRule, group: str) -> tuple[Track, Version | None]:
        found = self.store.get_tracks(rule.name, [group]).get(group)
        entry: tuple[Track, Version | None] = found if found else (Track(), None)
        self._tracks[rule.name][group] = entry
        return entry

    def _advance(
        self,
        rule: AlertRule,
        group: str,
        verdict: Verdict,
        measurement: Measurement,
        now: datetime,
        silences: Sequence[Silence],
    ) -> tuple[Transition, str | None]:
        tracks = self._tracks[rule.name]
        track, version = tracks.get(group, (Track(), None))
        for attempt in range(2):
            new_track, transition = step(track, verdict.status, rule, now)
            try:
                notice = self._record(
                    rule, group, new_track, transition, verdict, measurement, now, silences
                )
                if new_track != track:
                    version = self.store.put_track(rule.name, group, new_track, version)
                tracks[group] = (new_track, version)
                return transition, notice
            except ConflictError:
                if attempt:
                    raise
                # Someone else moved this group (a previous leader): start again from its state.
                track, version = self._reload_track(rule, group)
        raise AssertionError("unreachable")

    # --- episodes ----------------------------------------------------------------------------
    def _record(
        self,
        rule: AlertRule,
        group: str,
        track: Track,
        transition: Transition,
        verdict: Verdict,
        measurement: Measurement,
        now: datetime,
        silences: Sequence[Silence],
    ) -> str | None:
        """Write the episode change of ``transition``; the episode id when a notice is pending."""
        if transition in (Transition.QUIET, Transition.PENDING):
            return None
        ident = episode_id(rule.name, group, track.episode_number)
        silenced = any(s.covers(rule.name, group, now) for s in silences)
        if transition == Transition.FIRE:
            episode = self._new_episode(rule, group, ident, track, verdict, measurement, now)
            episode.notifications = self._notices(rule, "firing", now, silenced)
            try:
                self.store.put_episode(episode, None)
            except ConflictError:
                log.info("episode %s already exists (earlier leader): continuing it", ident)
                return ident
            log.warning("ALERT firing %s: %s", ident, verdict.reason)
            return ident
        found = self.store.get_episode(ident)
        if found is None:
            log.error(
                "episode %s missing from %s: track and episodes disagree", ident, self.store.index
            )
            return None
        episode, version = found
        if transition == Transition.RESOLVE:
            if episode.state == "resolved":
                return None  # an earlier leader resolved it already
            episode.state = "resolved"
            episode.resolved_at = now
            episode.notifications += self._notices(rule, "resolved", now, silenced)
            self.store.put_episode(episode, version)
            log.warning("ALERT resolved %s", ident)
            return ident
        if verdict.breached:
            episode.last_breach = now
            episode.last_numbers = dict(verdict.numbers)
        if transition == Transition.RENOTIFY:
            episode.notifications += self._notices(rule, "renotify", now, silenced)
        elif not verdict.breached:
            return None  # counting clears towards resolve: nothing to write on the episode
        self.store.put_episode(episode, version)
        return ident if transition == Transition.RENOTIFY else None

    def _notices(
        self, rule: AlertRule, kind: NoticeKind, now: datetime, silenced: bool
    ) -> list[Notification]:
        names = [n for n in rule.notify if n in self.notifiers]
        outcome = "silenced" if silenced else "pending"
        return [Notification(kind=kind, notifier=n, outcome=outcome, at=now) for n in names]

    def _new_episode(
        self,
        rule: AlertRule,
        group: str,
        ident: str,
        track: Track,
        verdict: Verdict,
        measurement: Measurement,
        now: datetime,
    ) -> Episode:
        plan = measurement.plan
        truncated: dict[str, int] | None = None
        if measurement.truncated:
            truncated = {"limit": rule.group_limit, "groups_seen": measurement.groups_seen}
        evidence = self._evidence(rule, group, plan)
        return Episode(
            id=ident,
            rule=rule.name,
            group=group,
            number=track.episode_number,
            route=rule.effective_route,
            severity=rule.severity,
            description=rule.description,
            reason=verdict.reason,
            first_breach=track.breach_since or now,
            last_breach=now,
            fired_at=now,
            window_from=plan.current.start,
            window_to=plan.current.end,
            numbers=dict(verdict.numbers),
            last_numbers=dict(verdict.numbers),
            groups_truncated=truncated,
            evidence=evidence,
            link=dashboard_link(self.dashboard_url, rule, group, plan, ident),
        )
