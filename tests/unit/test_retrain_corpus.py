"""How labels become training examples: majority per message, stable held-out choice."""

from __future__ import annotations

from retrain.corpus import in_held_out, to_examples


def doc(message_id: str, labeler: str, sentiment: str | None, topic: str | None = None) -> dict:  # type: ignore[type-arg]
    return {
        "message_id": message_id,
        "labeler": labeler,
        "sentiment": sentiment,
        "topic": topic,
        "text": f"text of {message_id}",
        "channel": "chat",
    }


def test_the_majority_wins_and_an_even_split_leaves_the_head_unlabelled() -> None:
    examples = to_examples(
        [
            doc("m1", "ana", "negative", "delivery"),
            doc("m1", "bob", "negative"),
            doc("m1", "cy", "positive"),
            doc("m2", "ana", "negative", "refunds"),
            doc("m2", "bob", "positive", "refunds"),
            doc("m3", "ana", "neutral"),
            doc("m3", "bob", "positive"),
        ]
    )
    assert (examples["m1"].sentiment, examples["m1"].topic) == ("negative", "delivery")
    assert (examples["m2"].sentiment, examples["m2"].topic) == (None, "refunds")
    assert "m3" not in examples  # nothing agreed on: not trained on at all
    assert examples["m1"].text == "text of m1"


def test_held_out_membership_is_stable_and_near_the_fraction() -> None:
    ids = [f"msg-{i}" for i in range(4000)]
    chosen = [i for i in ids if in_held_out(i, 0.2)]
    assert chosen == [i for i in ids if in_held_out(i, 0.2)]
    assert 0.17 < len(chosen) / len(ids) < 0.23
    assert not any(in_held_out(i, 0.0) for i in ids)


def test_replay_is_capped_to_what_the_run_can_train_on_from_both_kinds() -> None:
    from models.examples import Example
    from retrain.corpus import cap_replay

    labels = [Example(f"label {i}", "news", "neutral") for i in range(300)]
    seeds = [Example(f"seed {i}", "chat", "positive", "delivery") for i in range(100)]

    kept_labels, kept_seeds = cap_replay(labels, seeds, 200, seed=1)
    untouched = cap_replay(labels, seeds, None, seed=1)

    assert len(kept_labels) + len(kept_seeds) == 200
    assert 100 < len(kept_labels) < 200 and 0 < len(kept_seeds) < 100  # roughly 3:1, as given
    assert set(kept_labels) <= set(labels) and set(kept_seeds) <= set(seeds)
    assert untouched == (labels, seeds)
