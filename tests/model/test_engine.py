"""The inference engine: batching must not change answers, channels constrain topics."""

from __future__ import annotations

import pytest
import torch

from models.checkpoint import load_checkpoint
from models.errors import InferenceError
from models.inference import (
    EngineOptions,
    InferenceEngine,
    compute_dtype,
    cpu_has_native_bf16,
    cpu_layout,
    plan_batches,
    plan_call,
)
from models.registry import Registry
from models.taxonomy import Taxonomy, Topic
from models.versions import load_engine


def test_plan_batches_covers_every_index_once_within_budget() -> None:
    lengths = [5, 40, 12, 40, 3, 90, 7, 7, 300]
    batches = plan_batches(lengths, token_budget=100, max_batch=3)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * longest <= 100
    # longest first, and the over-budget text travels alone
    assert batches[0] == [8]


def test_batched_predictions_match_one_at_a_time(tiny_engine: InferenceEngine) -> None:
    texts = [
        "refund please",
        "The central bank raised interest rates by a quarter point on Thursday, its third "
        "increase this year, citing stubborn inflation in services and rents.",
        "app crashed again 😡",
        "ok",
        "Shares in Lumen Air fell sharply after the carrier cut its outlook",
    ]
    channels = ["chat", "news", "chat", "chat", "news"]
    together = tiny_engine.predict(texts, channels)
    alone = [tiny_engine.predict([t], [c])[0] for t, c in zip(texts, channels, strict=True)]
    assert [p.sentiment for p in together] == [p.sentiment for p in alone]
    assert [p.topic for p in together] == [p.topic for p in alone]
    for a, b in zip(together, alone, strict=True):
        for label, prob in a.sentiment_probs.items():
            assert prob == pytest.approx(b.sentiment_probs[label], abs=2e-3)


def test_channel_limits_topics_and_probabilities_sum_to_one(tiny_engine: InferenceEngine) -> None:
    news, chat = tiny_engine.predict(["Oil prices jumped", "Oil prices jumped"], ["news", "chat"])
    news_slugs = {t.slug for t in tiny_engine.taxonomy.for_channel("news")}
    chat_slugs = {t.slug for t in tiny_engine.taxonomy.for_channel("chat")}
    assert set(news.topic_probs) == news_slugs
    assert set(chat.topic_probs) == chat_slugs
    assert news.topic in news_slugs and chat.topic in chat_slugs
    for p in (news, chat):
        assert sum(p.sentiment_probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert sum(p.topic_probs.values()) == pytest.approx(1.0, abs=1e-2)
        assert p.model_version == tiny_engine.version


def test_topic_added_to_taxonomy_is_scored_zero_shot(
    tiny_registry: Registry, taxonomy: Taxonomy
) -> None:
    extended = Taxonomy(
        (
            *taxonomy.topics,
            Topic(
                "chat",
                "cancellation",
                "cancel my subscription or membership, close my account for good",
            ),
        ),
        taxonomy.min_topic_confidence,
    )
    version = tiny_registry.current()
    assert version is not None
    engine = InferenceEngine(
        load_checkpoint(version.path), version.id, extended, EngineOptions(device="cpu")
    )
    engine.warm_up(rounds=1)
    assert engine.zero_shot_topics == ["chat/cancellation"]
    [prediction] = engine.predict(
        ["please cancel my subscription, I want to end my membership"], ["chat"]
    )
    assert "cancellation" in prediction.topic_probs
    assert prediction.topic == "cancellation"


def test_retired_engine_refuses_to_score(tiny_registry: Registry) -> None:
    version = tiny_registry.current()
    assert version is not None
    engine = InferenceEngine(
        load_checkpoint(version.path), version.id, None, EngineOptions(device="cpu")
    )
    with pytest.raises(InferenceError, match="not warmed up"):
        engine.predict(["hello"])
    engine.warm_up(rounds=1)
    assert engine.predict(["hello"])[0].model_version == version.id
    engine.retire()
    with pytest.raises(InferenceError, match="retired"):
        engine.predict(["hello"])


def test_bad_inputs_raise_our_error(tiny_engine: InferenceEngine) -> None:
    with pytest.raises(InferenceError, match="2 texts but 1 channels"):
        tiny_engine.predict(["a", "b"], ["chat"])
    with pytest.raises(InferenceError, match="string"):
        tiny_engine.predict([None])  # type: ignore[list-item]
    assert tiny_engine.predict([]) == []


def test_precision_choices_are_checked_per_device() -> None:
    cpu = torch.device("cpu")
    assert compute_dtype(cpu, "fp32") is None
    assert compute_dtype(cpu, "bf16") is torch.bfloat16
    assert compute_dtype(cpu, "auto") is (torch.bfloat16 if cpu_has_native_bf16() else None)
    assert compute_dtype(torch.device("cuda"), "auto") is torch.float16
    with pytest.raises(InferenceError, match="fp16 needs CUDA"):
        compute_dtype(cpu, "fp16")
    with pytest.raises(InferenceError, match="precision must be one of"):
        compute_dtype(cpu, "int4")


def test_bf16_engine_gives_the_fp32_answers(tiny_registry: Registry) -> None:
    texts = [
        "my card was charged twice and nobody answers",
        "Shares of Nordvik slid 6% after a profit warning",
        "the courier was quick, thank you",
        "Parliament will vote on the budget on Tuesday",
    ]
    channels = ["chat", "news", "chat", "news"]
    answers = {}
    for precision in ("fp32", "bf16"):
        engine = load_engine(tiny_registry, options=EngineOptions("cpu", precision=precision))
        assert engine.precision == precision
        answers[precision] = engine.predict(texts, channels)
    for a, b in zip(answers["fp32"], answers["bf16"], strict=True):
        assert (a.sentiment, a.topic) == (b.sentiment, b.topic)
        for label, prob in a.sentiment_probs.items():
            assert prob == pytest.approx(b.sentiment_probs[label], abs=0.05)


def test_a_call_splits_into_one_pass_per_stream_at_least() -> None:
    lengths = [20] * 64
    assert len(plan_call(lengths, 2048, 256, streams=1)) == 1
    passes = plan_call(lengths, 2048, 256, streams=2)
    assert len(passes) == 2
    assert sorted(i for rows in passes for i in rows) == list(range(64))
    # A single text still makes one pass; the budget still caps a pass.
    assert plan_call([30], 2048, 256, streams=2) == [[0]]
    assert all(len(rows) * 20 <= 512 for rows in plan_call(lengths, 512, 256, streams=2))


def test_cpu_cores_are_shared_out_between_streams() -> None:
    cpu = torch.device("cpu")
    assert cpu_layout(cpu, EngineOptions(threads=4)) == (4, 1)
    assert cpu_layout(cpu, EngineOptions(threads=4, streams=2)) == (2, 2)
    assert cpu_layout(cpu, EngineOptions(threads=2, streams=8)) == (2, 1)
    assert cpu_layout(torch.device("cuda"), EngineOptions(threads=4))[0] == 1
