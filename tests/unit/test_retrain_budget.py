"""Planning a fine-tune to fit the time budget from a measured training rate."""

from __future__ import annotations

import os
import random

import pytest

from models.examples import Example
from retrain.finetune import fit_to_budget, training_threads


def examples(kind: str, n: int) -> list[Example]:
    return [Example(f"{kind} {i}", "chat", "neutral") for i in range(n)]


def test_everything_fits_for_as_many_epochs_as_the_budget_allows() -> None:
    new, replay, epochs = fit_to_budget(
        examples("new", 100),
        examples("old", 100),
        budget_s=100,
        rate=10.0,
        epochs=5,
        rng=random.Random(1),
    )  # capacity 800 passes: 4 epochs of 200
    assert (len(new), len(replay), epochs) == (100, 100, 4)


def test_too_much_data_keeps_a_third_replay_and_fills_up_with_new_labels() -> None:
    new, replay, epochs = fit_to_budget(
        examples("new", 1000),
        examples("old", 1000),
        budget_s=100,
        rate=3.0,
        epochs=3,
        rng=random.Random(1),
    )  # capacity 240
    assert epochs == 1
    assert (len(new), len(replay)) == (160, 80)
    assert all(e.text.startswith("new") for e in new)
    assert len({e.text for e in new}) == 160


def test_few_new_labels_are_all_kept_and_replay_fills_the_rest() -> None:
    new, replay, epochs = fit_to_budget(
        examples("new", 50),
        examples("old", 1000),
        budget_s=100,
        rate=3.0,
        epochs=3,
        rng=random.Random(1),
    )
    assert (len(new), len(replay), epochs) == (50, 190, 1)


def test_training_threads_take_one_core_when_the_machine_is_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2, 3})
    monkeypatch.setattr(os, "getloadavg", lambda: (6.0, 6.0, 6.0))
    assert training_threads(None) == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.4, 1.0, 1.0))
    assert training_threads(None) == 4
    assert training_threads(3) == 3  # a setting always wins


def test_a_handful_of_new_labels_trains_the_heads_only() -> None:
    from retrain.finetune import ALL_LAYERS, HEADS_ONLY_BELOW, default_frozen_layers

    assert default_frozen_layers(500, new_labels=HEADS_ONLY_BELOW - 1) == ALL_LAYERS
    assert default_frozen_layers(500, new_labels=HEADS_ONLY_BELOW) == 4
    assert default_frozen_layers(6000, new_labels=3000) == 2


def test_capping_the_replay_per_epoch_buys_more_passes_over_the_new_labels() -> None:
    new, replay, epochs = fit_to_budget(
        examples("new", 100),
        examples("old", 300),
        budget_s=100,
        rate=5.0,
        epochs=3,
        rng=random.Random(1),
        replay_per_epoch=100,
    )  # capacity 400: everything once, or three epochs of 100 new + 100 replayed
    assert (len(new), len(replay), epochs) == (100, 300, 2)


def test_each_epoch_sees_every_new_label_and_a_fresh_replay_sample() -> None:
    from retrain.finetune import epoch_stream

    new, old = examples("new", 10), examples("old", 40)

    stream, schedule_epochs = epoch_stream(new, old, 3, 5, random.Random(1))

    assert schedule_epochs == 1  # one schedule over the three epochs laid end to end
    assert len(stream) == 3 * (10 + 5)
    for epoch in range(3):
        part = stream[epoch * 15 : (epoch + 1) * 15]
        assert sorted(e.text for e in part if e.text.startswith("new")) == sorted(
            e.text for e in new
        )
    replayed = [{e.text for e in stream[i * 15 + 10 : (i + 1) * 15]} for i in range(3)]
    assert len(replayed[0] | replayed[1] | replayed[2]) > 5  # not the same five every time


def test_without_a_replay_cap_the_stream_is_everything_for_every_epoch() -> None:
    from retrain.finetune import epoch_stream

    new, old = examples("new", 10), examples("old", 4)

    stream, schedule_epochs = epoch_stream(new, old, 3, 5, random.Random(1))

    assert (len(stream), schedule_epochs) == (14, 3)
