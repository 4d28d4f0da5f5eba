"""Messages/s of PII redaction on a mix of chat lines, against no redaction at all.

Redaction runs on every message on the hot path, so what matters is the time it adds per message.
The script builds seeded chat lines of three sorts, as a support chat mixes them: plain lines
(no digits, no '@': the pre-checks should make them nearly free), lines with harmless numbers
(order ids, dates, prices, times, versions, tracking numbers: the detectors run and must refuse)
and lines with PII (e-mail, phone, card, IBAN). It times, in one run:

* ``none``: the same loop calling a function that returns the text untouched;
* ``disabled``: ``Redactor.from_setting("")``, what a worker runs with redaction turned off;
* ``redact``: all four kinds, on the whole mix and on each sort alone.

Each figure is the median of several timed passes over the same messages. It prints one JSON
report, then a one-line summary. ``--check`` also asserts that every PII line lost its PII and no
harmless line was touched (the generated lines are built to make that true).

    python -m bench.redaction_speed [--n 20000] [--repeats 5] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from stream.redaction import Redactor

# Share of each sort in the mix: most support chat carries no PII and many lines no number.
MIX = {"plain": 0.60, "numbers": 0.25, "pii": 0.15}

_OPENERS = ["hi", "hello", "hey there", "good morning", "so", "ok", "sorry to bother you", "yo"]
_COMPLAINTS = [
    "the app keeps crashing when I open settings",
    "my parcel still has not arrived",
    "I was charged twice this month",
    "the refund never showed up",
    "support closed my ticket without an answer",
    "the new update made everything slower",
    "I cannot log in since yesterday",
    "the delivery driver left the box in the rain",
    "thanks, that fixed it, you are great",
    "love the new dark mode!",
    "can you tell me when the sale ends?",
    "the invoice shows the wrong address",
]
_CLOSERS = ["", " thanks", " please help", " 😡", " 🙏", " asap", "!!", " cheers", " ty"]


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # these digits get doubled once the check digit is appended
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


def _iban(rng: random.Random) -> str:
    bban = "".join(rng.choice("0123456789") for _ in range(18))
    check = 98 - int("".join(str(int(c, 36)) for c in bban + "DE00")) % 97
    compact = f"DE{check:02d}{bban}"
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _phone(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(8))
    return rng.choice(
        [
            f"+44 20 {digits[:4]} {digits[4:]}",
            f"(555) {digits[:3]}-{digits[3:7]}",
            f"0{rng.choice('67')} {digits[0:2]} {digits[2:4]} {digits[4:6]} {digits[6:8]}",
            f"+1-415-{digits[:3]}-{digits[3:7]}",
            f"07700 9{digits[:5]}",
        ]
    )


def _pii(rng: random.Random) -> str:
    kind = rng.choice(["email", "phone", "card", "iban", "two"])
    email = f"{rng.choice(['anna', 'j.doe', 'Mark.Smith+shop'])}{rng.randint(1, 99)}@example.com"
    card = _luhn_complete(rng, rng.choice(["4", "51", "37", "6011"]), 16)
    card = rng.choice([card, " ".join(card[i : i + 4] for i in range(0, 16, 4))])
    value = {
        "email": email,
        "phone": _phone(rng),
        "card": card,
        "iban": _iban(rng),
        "two": f"{email} or call {_phone(rng)}",
    }[kind]
    return rng.choice(
        [
            f"you can reach me at {value}",
            f"my details: {value}",
            f"please use {value} for the refund",
            f"{value} is what I gave you last time",
        ]
    )


def _numbers(rng: random.Random) -> str:
    return rng.choice(
        [
            f"order #{rng.randint(1_000_000, 9_999_999)} is late",
            f"ticket {rng.randint(10_000, 999_999)} was closed on 2026-{rng.randint(1, 12):02d}-14",
            f"it cost {rng.randint(1, 9)},{rng.randint(100, 999)}.00 at 14:{rng.randint(10, 59)}",
            f"version 10.0.{rng.randint(10000, 99999)}.{rng.randint(1000, 9999)} broke it",
            f"tracking 1Z{rng.randint(100, 999)}AA1{rng.randint(10**9, 10**10 - 1)}",
            f"I paid {rng.randint(10, 99)}.{rng.randint(10, 99)} on 22.11.2026 for 3 items",
            f"{rng.randint(1990, 2005)}-{rng.randint(2006, 2026)} we ordered {rng.randint(2, 9)}x",
        ]
    )


def chat_line(rng: random.Random, sort: str) -> str:
    middle = {
        "plain": lambda: rng.choice(_COMPLAINTS),
        "numbers": lambda: _numbers(rng),
        "pii": lambda: _pii(rng),
    }[sort]()
    return f"{rng.choice(_OPENERS)} {middle}{rng.choice(_CLOSERS)}"


def chat_lines(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` seeded (sort, text) pairs in the proportions of :data:`MIX`, shuffled."""
    rng = random.Random(seed)
    sorts = [sort for sort, share in MIX.items() for _ in range(round(n * share))]
    rng.shuffle(sorts)
    return [(sort, chat_line(rng, sort)) for sort in sorts]


def _untouched(text: str) -> tuple[str, tuple[str, ...]]:
    return text, ()


def _median_seconds(
    function: Callable[[str], tuple[str, tuple[str, ...]]], texts: Sequence[str], repeats: int
) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for text in texts:
            function(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _rate(seconds: float, n: int) -> dict[str, float]:
    return {"messages_per_s": round(n / seconds), "us_per_message": round(seconds / n * 1e6, 3)}


def check(lines: Sequence[tuple[str, str]], redactor: Redactor) -> dict[str, int]:
    """Counts of PII lines left with PII and harmless lines changed (both should be 0)."""
    missed = changed = 0
    for sort, text in lines:
        redacted, kinds = redactor.redact(text)
        if sort == "pii" and (not kinds or any(ch.isdigit() for ch in redacted) or "@" in redacted):
            missed += 1
        if sort != "pii" and redacted != text:
            changed += 1
    return {"pii_lines_missed": missed, "harmless_lines_changed": changed}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.redaction_speed",
        description="Messages/s of Redactor.redact on chat lines vs. no redaction.",
    )
    parser.add_argument("--n", type=int, default=20_000, help="messages in the mix")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per figure")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated lines")
    parser.add_argument("--check", action="store_true", help="fail if any line is misjudged")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    lines = chat_lines(max(20, args.n), args.seed)
    texts = [text for _, text in lines]
    redactor = Redactor()
    disabled = Redactor.from_setting("")
    for text in texts[:2000]:  # warm the regex caches and the interpreter before timing
        redactor.redact(text)

    n = len(texts)
    none_s = _median_seconds(_untouched, texts, args.repeats)
    disabled_s = _median_seconds(disabled.redact, texts, args.repeats)
    redact_s = _median_seconds(redactor.redact, texts, args.repeats)
    by_sort: dict[str, Any] = {}
    for sort in MIX:
        subset = [text for kind, text in lines if kind == sort]
        seconds = _median_seconds(redactor.redact, subset, args.repeats)
        baseline = _median_seconds(_untouched, subset, args.repeats)
        by_sort[sort] = {
            "messages": len(subset),
            **_rate(seconds, len(subset)),
            "overhead_us_per_message": round((seconds - baseline) / len(subset) * 1e6, 3),
        }
    found = sum(1 for text in texts if redactor.redact(text)[1])
    quality = check(lines, redactor)

    overhead_us = (redact_s - none_s) / n * 1e6
    report: dict[str, Any] = {
        "benchmark": "redaction_speed",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "host": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "messages": n,
        "mix": MIX,
        "mean_chars": round(sum(map(len, texts)) / n, 1),
        "repeats": args.repeats,
        "seed": args.seed,
        "kinds": sorted(redactor.kinds),
        "none": _rate(none_s, n),
        "disabled": _rate(disabled_s, n),
        "redact": _rate(redact_s, n),
        "overhead_us_per_message": round(overhead_us, 3),
        "slowdown_vs_none": round(redact_s / none_s, 1),
        "by_sort": by_sort,
        "messages_with_pii_found": found,
        **quality,
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    per_sort = ", ".join(f"{sort} {by_sort[sort]['us_per_message']} µs" for sort in MIX)
    print(
        f"redaction: {n / redact_s:,.0f} msg/s on the mix ({overhead_us:.1f} µs/message over "
        f"no redaction at {n / none_s:,.0f} msg/s); {per_sort}; "
        f"{quality['pii_lines_missed']} PII lines missed, "
        f"{quality['harmless_lines_changed']} harmless lines changed"
    )
    if args.check and (quality["pii_lines_missed"] or quality["harmless_lines_changed"]):
        print("check failed: see pii_lines_missed / harmless_lines_changed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
