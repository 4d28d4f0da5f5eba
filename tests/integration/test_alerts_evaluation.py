"""Rule evaluation on the real Elasticsearch: bursts, floors, bad rules, evidence, backtest.

Evaluation moments are passed in explicitly (the same aligned ticks the alerter uses), so these
tests replay minutes of history in seconds without waiting on a clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from alerts.backtest import backtest, evaluation_ticks
from alerts.evaluator import Evaluator
from alerts.loading import RuleBook
from alerts.query import measure
from alerts.rules import AlertRule
from alerts.store import AlertStore
from bench.seed_messages import Burst, burst_documents, scored, synthetic_documents
from moodwatch.cli import cli
from tests.integration.alertkit import aligned, cleaned, seed

EVERY = timedelta(seconds=20)
T = aligned(datetime.now(UTC) - timedelta(hours=1), timedelta(minutes=1))
TOPICS = ["topic-00", "topic-01", "topic-02", "topic-03"]

SPIKE_RULE = {
    "name": "chat-spike",
    "filter": {"channel": "chat"},
    "group_by": "topic",
    "window": "60s",
    "every": "20s",
    "counting": {"mode": "label", "min_confidence": 0.5},
    "condition": {
        "type": "spike",
        "metric": "share",
        "baseline_windows": 10,
        "min_ratio": 2.0,
        "min_z": 3.0,
        "min_count": 10,
        "min_negative": 5,
        "min_baseline_count": 50,
        "min_baseline_windows": 3,
    },
    "fire_after": 2,
    "resolve_after": 2,
    "notify": ["log"],
}


@pytest.fixture
def prefix(es: Elasticsearch, unique: Callable[[str], str]) -> Iterator[str]:
    with cleaned(es, unique("mwalert")) as name:
        yield name


def evaluator_for(es: Elasticsearch, prefix: str) -> Evaluator:
    store = AlertStore(es, prefix)
    store.ensure_index()
    return Evaluator(
        es, store, f"{prefix}-messages", dashboard_url="http://dash.test", notifiers=["log"]
    )


def chat_history(burst_topic: str) -> list[dict[str, object]]:
    calm = synthetic_documents(
        3000, T - timedelta(minutes=15), T + timedelta(minutes=10), TOPICS, negative_share=0.1
    )
    docs = [{**d, "channel": "chat"} for d in calm]
    burst = Burst(burst_topic, T, timedelta(minutes=2), 200, negative_share=0.9)
    return docs + list(burst_documents(burst))


def test_a_negative_burst_on_one_topic_fires_once_for_it_and_resolves(
    es: Elasticsearch, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(es, prefix, chat_history("topic-01"))
    rule = AlertRule.model_validate(SPIKE_RULE)
    evaluator = evaluator_for(es, prefix)
    start, end = T - timedelta(minutes=2), T + timedelta(minutes=8)

    for tick in evaluation_ticks(start, end, EVERY):
        evaluator.evaluate(rule, tick)
    es.indices.refresh(index=f"{prefix}-alerts")

    episodes = evaluator.store.list_episodes(rule="chat-spike")
    assert [(e.group, e.state) for e in episodes] == [("topic-01", "resolved")]
    (episode,) = episodes
    assert T <= episode.first_breach < episode.fired_at < episode.resolved_at  # type: ignore[operator]
    assert episode.fired_at <= T + timedelta(seconds=60)  # within two evaluations of the burst
    assert episode.numbers["ratio"] is None or episode.numbers["ratio"] >= 2.0
    assert float(episode.numbers["metric_current"]) > float(episode.numbers["baseline_mean"])
    rising = [t["term"] for t in episode.evidence["rising_terms"]]
    assert set(rising[:3]) <= {"outage", "refund", "broken"}, rising
    assert len(episode.evidence["messages"]) == 5
    confidences = [m["confidence"] for m in episode.evidence["messages"]]
    assert confidences == sorted(confidences, reverse=True)
    assert episode.evidence["top_topics"][0]["key"] == "topic-01"
    assert episode.evidence["model_versions"][0]["key"] == "seed-v1"
    assert episode.link.startswith("http://dash.test/explorer?from=")
    query = parse_qs(urlsplit(episode.link).query)
    assert query["topic"] == ["topic-01"] and query["channel"] == ["chat"]
    assert query["episode"] == [episode.id]
    assert datetime.fromisoformat(query["from"][0]) == episode.window_from
    assert [n.kind for n in episode.notifications] == ["firing", "resolved"]

    # The backtest replays the same history through the same code: same episode, same times.
    replayed = backtest(
        rule, lambda r, t: measure(es, f"{prefix}-messages", r, t), start, end, EVERY
    )
    assert [(e.group, e.fired_at, e.resolved_at) for e in replayed] == [
        (episode.group, episode.fired_at, episode.resolved_at)
    ]

    # ... and so does the command line, and it lists, shows and silences what the alerter wrote.
    import yaml

    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(SPIKE_RULE))
    monkeypatch.setenv("MOODWATCH_ES_INDEX_PREFIX", prefix)
    runner = CliRunner()
    span = ["--from", start.isoformat(), "--to", end.isoformat()]
    result = runner.invoke(
        cli, ["alerts", "backtest", "chat-spike", *span, "--rules", str(rules), "--json"]
    )
    assert result.exit_code == 0, result.output
    (cli_episode,) = json.loads(result.stdout)["episodes"]
    assert cli_episode["group"] == "topic-01"
    assert cli_episode["fired_at"] == episode.fired_at.isoformat()
    assert cli_episode["resolved_at"] == episode.resolved_at.isoformat()  # type: ignore[union-attr]

    listed = runner.invoke(cli, ["alerts", "list"])
    assert listed.exit_code == 0 and episode.id in listed.stdout and "resolved" in listed.stdout
    shown = runner.invoke(cli, ["alerts", "show", episode.id])
    assert json.loads(shown.stdout)["evidence"]["top_topics"][0]["key"] == "topic-01"
    missing = runner.invoke(cli, ["alerts", "show", "chat-spike:nowhere:9"])
    assert missing.exit_code != 0 and "no episode" in missing.output
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    silenced = runner.invoke(cli, ["alerts", "silence", "chat-spike", "topic-01", "--until", until])
    assert silenced.exit_code == 0, silenced.output
    (silence,) = evaluator.store.silences(datetime.now(UTC))
    assert (silence.rule, silence.group) == ("chat-spike", "topic-01")


def test_the_evidence_shows_different_messages_not_one_complaint_five_times(
    es: Elasticsearch, prefix: str
) -> None:
    # A flood of copies (a bot, a retried send, a pasted template) of three complaints.
    copies = ["refund never arrived", "app broken again", "charged twice outage"]
    history = chat_history("topic-01")
    burst = [d for d in history if d["topic"]["label"] == "topic-01"  # type: ignore[index]
             and d["created_at"] >= T.isoformat()]  # fmt: skip
    for number, document in enumerate(burst):
        document["text"] = copies[number % len(copies)]
    seed(es, prefix, history)
    evaluator = evaluator_for(es, prefix)
    rule = AlertRule.model_validate(SPIKE_RULE)
    for tick in evaluation_ticks(T - timedelta(minutes=2), T + timedelta(minutes=2), EVERY):
        evaluator.evaluate(rule, tick)
    es.indices.refresh(index=f"{prefix}-alerts")
    (episode,) = evaluator.store.list_episodes(rule="chat-spike")
    texts = [m["text"] for m in episode.evidence["messages"]]
    assert len(texts) == 5 and len(set(texts)) == 5, texts  # the calm negatives fill the rest
    assert set(copies) <= set(texts), texts


def test_three_negative_of_four_below_min_count_does_not_fire(
    es: Elasticsearch, prefix: str
) -> None:
    rule = AlertRule.model_validate(
        {
            "name": "share",
            "window": "60s",
            "condition": {"type": "negative_share", "above": 0.5, "min_count": 5},
            "notify": ["log"],
        }
    )

    def message(n: int, sentiment: str) -> dict[str, object]:
        return scored(
            f"m{n}",
            T + timedelta(seconds=n),
            topic="t",
            channel="chat",
            source="s",
            sentiment=sentiment,
            confidence=0.9,
            text="this is awful",
        )

    seed(
        es,
        prefix,
        [
            message(1, "negative"),
            message(2, "negative"),
            message(3, "negative"),
            message(4, "neutral"),
            message(5, "unsupported"),
        ],
    )
    evaluator = evaluator_for(es, prefix)
    outcome = evaluator.evaluate(rule, T + timedelta(seconds=30))
    assert outcome.verdicts["all"].numbers["count"] == 4  # "unsupported" is never counted
    assert outcome.verdicts["all"].status == "clear"
    assert outcome.notices == []

    seed(es, prefix, [message(6, "negative"), message(7, "negative")])  # now 5 of 6
    outcome = evaluator.evaluate(rule, T + timedelta(seconds=31))
    assert outcome.verdicts["all"].status == "breach"
    assert len(outcome.notices) == 1


def test_a_malformed_rule_file_is_refused_while_a_good_rule_fires(
    es: Elasticsearch, prefix: str, tmp_path: Path
) -> None:
    import yaml

    (tmp_path / "good.yaml").write_text(yaml.safe_dump(SPIKE_RULE))
    broken = {**SPIKE_RULE, "name": "broken", "condition": {"type": "spike", "min_z": -1}}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    book = RuleBook(tmp_path)
    book.reload()
    assert any("broken.yaml: rule 'broken': condition.min_z" in p for p in book.problem_lines())

    seed(es, prefix, chat_history("topic-02"))
    evaluator = evaluator_for(es, prefix)
    fired = []
    for tick in evaluation_ticks(T - timedelta(minutes=1), T + timedelta(minutes=2), EVERY):
        for rule in book.rules:
            fired += evaluator.evaluate(rule, tick).notices
    assert fired and all(i.startswith("chat-spike:topic-02:") for i in fired)


def test_more_groups_than_the_limit_is_said_in_the_alert_and_the_log(
    es: Elasticsearch, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    docs = []
    for k, topic in enumerate(TOPICS):  # topic-00 has the most messages, topic-03 the fewest
        for i in range(20 - 3 * k):
            docs.append(
                scored(
                    f"{topic}-{i}", T + timedelta(seconds=i), topic=topic, channel="chat",
                    source="s", sentiment="negative", confidence=0.8, text="it broke",
                )
            )  # fmt: skip
    seed(es, prefix, docs)
    rule = AlertRule.model_validate(
        {
            "name": "capped",
            "group_by": "topic",
            "group_limit": 2,
            "window": "60s",
            "counting": {"mode": "probability"},
            "condition": {"type": "negative_share", "above": 0.7, "min_count": 5},
            "notify": ["log"],
        }
    )
    evaluator = evaluator_for(es, prefix)
    outcome = evaluator.evaluate(rule, T + timedelta(seconds=30))

    assert (outcome.groups_seen, outcome.truncated) == (4, True)
    assert sorted(outcome.verdicts) == ["topic-00", "topic-01"]  # the two largest
    # probability counting: each message weighs its P(negative) = 0.8
    assert outcome.verdicts["topic-00"].numbers["share"] == pytest.approx(0.8)
    assert "capped: 4 groups, evaluating the 2 largest" in caplog.text
    es.indices.refresh(index=f"{prefix}-alerts")
    episodes = evaluator.store.list_episodes(rule="capped")
    assert len(episodes) == 2
    assert all(e.groups_truncated == {"limit": 2, "groups_seen": 4} for e in episodes)
