"""PII redaction: e-mail addresses, phone numbers, payment cards and IBANs become placeholders.

Every message goes through :meth:`Redactor.redact` before it is indexed, shown on the dashboard or
kept for training, so detection is built for the hot path: a few precompiled regular expressions
find candidates, short Python checks decide, e-mail detection is skipped when a text has no ``@``
and the digit-heavy kinds when it has fewer than seven digits (no phone, card or real IBAN has
fewer: the registry's account formats are mostly digits).

Each detector trades leaks against over-redaction; where the two collide it leans towards
redacting. What counts as what:

e-mail
    ``local@domain.tld``: dots, plus-tags and accented Latin letters in the local part, any
    number of sub-domains, an alphabetic (or ``xn--``) top-level domain, any case. A domain
    without a dot (``me@home``, ``user@localhost``) and ``@handles`` are not addresses.
IBAN
    Two letters, check digits 02-98 and the account part, solid or in groups of four, any case.
    Only if the mod-97 check holds and, for the countries in ``IBAN_LENGTHS``, the length fits
    (other country codes: 15-34 characters). Never a piece of a longer letter-digit token. A
    mistyped IBAN (listed country, right length, wrong checksum) stays as written, and its digits
    are not taken for a card or a phone either.
card
    13-19 digits passing the Luhn check, solid, or in groups joined by single spaces or by dashes
    (first group of four, middle groups of four to six), never starting with 0 (ISO/IEC 7812
    issues no such card, and zero-padded ids abound). A solid run of more than 19 digits is
    not a card; a grouped number may be cut at a group boundary, so a card followed by its CVV
    or by another group of digits is still found.
phone
    7-15 digits (E.164) once a ``00`` dialling prefix and a ``(0)`` trunk digit are left out,
    written with ``+``, spaces, dashes, dots, slashes and parentheses. A solid number counts only
    when it looks dialled: ``+`` or ``00`` and a country code, ``0`` and 8-11 more digits, ten
    digits not starting with 1 (a ten-digit number starting with 1 is a Unix time), or eleven
    digits. Not phones: dates, year ranges (``2019-2026``), round ranges (``100-1000``),
    fractions and expiry dates (``12/27``), IP addresses, versions and decimals, thousands-grouped
    amounts (``12 500 000``, ``1.250.000``), lists of two-digit numbers, numbers glued to letters,
    ``#123`` ids, path segments, solid numbers of 7-9 digits not starting with 0 (order or
    ticket ids), and dotted numbers with a one-digit group (so ``1.555.123.4567`` is missed).
    A space-grouped number shaped like a card (``1234 5678 9012 3456``) that fails the Luhn
    check is left whole rather than half-read as a phone; so is any number in three or more
    groups of four (parcel tracking numbers, gift cards).

Order: e-mail first (an address may hold digits), then IBAN, then one pass over each run of
digits that takes cards before phones. Placeholders hold neither digits nor ``@``, and a text is
redacted again until a pass finds nothing, so ``redact(redact(x)) == redact(x)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

PII_KINDS: Final = ("email", "phone", "card", "iban")
PLACEHOLDERS: Final = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]", "iban": "[IBAN]"}
MIN_DIGITS: Final = 7  # the fewest digits any phone, card or IBAN carries

# Lengths from the SWIFT IBAN registry for the countries customers write from most; an IBAN from
# a country missing here is still redacted when its checksum holds and it has 15-34 characters.
IBAN_LENGTHS: Final = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30,
    "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def _char_class(chars: str) -> str:
    return "".join(re.escape(ch) for ch in chars)


_LATIN = "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"  # accented Latin letters, without × and ÷
_LOCAL = rf"[A-Za-z0-9{_LATIN}_%+\-]"
_LABEL_END = rf"[A-Za-z0-9{_LATIN}]"
_EMAIL = re.compile(
    # Starting only where a local part can start keeps a long word before an '@' linear.
    rf"(?<!{_LOCAL}){_LOCAL}+(?:\.{_LOCAL}+)*"
    rf"@(?:{_LABEL_END}(?:[A-Za-z0-9{_LATIN}\-]{{0,61}}{_LABEL_END})?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9\-]{1,59})"
)

# Two letters, two digits, then groups of four with optional single spaces and a short last group.
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?"
)

_SPACES = " \u00a0\u202f"  # plain, no-break and narrow no-break spaces
_DASHES = "-\u2010\u2011\u2012\u2013\uff0d"  # hyphen-minus, Unicode hyphens, en dash, full-width
_JOINT = f"[{_char_class(_SPACES + _DASHES + './')}]"
# A run of digit groups joined by single separators, maybe led by '+' and with parenthesised
# groups: the raw material of cards and phones. Runs start only where a number can start, so a
# decimal part, a price after its comma, a time after its colon, a '#12' id, a path segment or a
# token glued to letters never gets read on its own.
_NUMBER_RUN = re.compile(
    r"(?<![A-Za-z_+#/@)\d])"
    rf"(?<!\d[.,:{_char_class(_DASHES)}])"
    r"\+?(?:\(\d{1,6}\)|\d+)"
    rf"(?:{_JOINT}?\(\d{{1,6}}\)|(?:{_JOINT}|(?<=\)))\d+)*"
)
_INNER = frozenset(_DASHES + "./")  # separators inside a word
_WORD = re.compile(f"[^{_char_class(_SPACES)}]+")
_GROUP = re.compile(r"\d+")
_SEVEN_DIGITS = re.compile(rf"\d(?:\D*\d){{{MIN_DIGITS - 1}}}")
# After a solid number these make it part of a token; the end of the text ("") is not among them.
_GLUE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_MAX_CARD_WORDS = 5  # 19 digits in groups of at least four, bar the last
_MAX_PHONE_WORDS = 7  # "+33 1 23 45 67 89" is six


class Redactor:
    """Replaces the enabled PII kinds with ``[EMAIL]``, ``[PHONE]``, ``[CARD]`` and ``[IBAN]``.

    Immutable and thread-safe: build one per worker and call :meth:`redact` on every message.
    """

    __slots__ = ("_card", "_email", "_iban", "_kinds", "_phone")

    def __init__(self, kinds: Iterable[str] = PII_KINDS) -> None:
        chosen = tuple(kinds)
        unknown = [kind for kind in chosen if kind not in PII_KINDS]
        if unknown:
            raise ValueError(
                f"unknown PII kind(s) {', '.join(map(repr, unknown))}: "
                f"choose from {', '.join(PII_KINDS)}"
            )
        self._kinds = frozenset(chosen)
        self._email = "email" in self._kinds
        self._iban = "iban" in self._kinds
        self._card = "card" in self._kinds
        self._phone = "phone" in self._kinds

    @classmethod
    def from_setting(cls, value: str) -> Redactor:
        """Build from a comma-separated list such as ``"email,phone"``; ``""`` turns it off."""
        kinds = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [kind for kind in kinds if kind not in PII_KINDS]
        if unknown:
            raise ValueError(
                f"PII redaction setting {value!r} names unknown kind(s) "
                f"{', '.join(map(repr, unknown))}: use a comma-separated subset of "
                f"{','.join(PII_KINDS)}, or an empty value to turn redaction off"
            )
        return cls(kinds)

    @property
    def kinds(self) -> frozenset[str]:
        return self._kinds

    @property
    def enabled(self) -> bool:
        return bool(self._kinds)

    def __repr__(self) -> str:
        return f"Redactor({sorted(self.kinds)!r})"

    def redact(self, text: str) -> tuple[str, tuple[str, ...]]:
        """Redacted text and the kinds found (sorted, unique).

        Placeholders: [EMAIL] [PHONE] [CARD] [IBAN].
        """
        if not self.kinds:
            return text, ()
        found: set[str] = set()
        while True:
            # One pass nearly always suffices; repeating until nothing is found makes the
            # result a fixed point. Every finding removes an '@' or digits and placeholders add
            # neither, so the loop ends.
            text, new = self._redact_once(text)
            if not new:
                return text, tuple(sorted(found))
            found |= new

    def _redact_once(self, text: str) -> tuple[str, set[str]]:
        found: set[str] = set()
        if self._email and "@" in text:
            text, count = _EMAIL.subn(PLACEHOLDERS["email"], text)
            if count:
                found.add("email")
        if (self._iban or self._card or self._phone) and _has_enough_digits(text):
            refused: list[tuple[int, int]] = []
            if self._iban:
                text, refused = _redact_ibans(text, found)
            if self._card or self._phone:
                text = _redact_number_runs(
                    text, found, cards=self._card, phones=self._phone, refused=refused
                )
        return text, found


def _has_enough_digits(text: str) -> bool:
    if text.isascii():  # counting is cheaper than a regex search for the common case
        return sum(map(text.count, "0123456789")) >= MIN_DIGITS
    return _SEVEN_DIGITS.search(text) is not None


# --- IBAN ---------------------------------------------------------------------------------------


def _redact_ibans(text: str, found: set[str]) -> tuple[str, list[tuple[int, int]]]:
    """The text with valid IBANs replaced, and the spans (in that text) of refused ones."""
    pieces: list[str] = []
    refused: list[tuple[int, int]] = []
    last = shift = 0  # shift: how much shorter the output is than the input so far
    for match in _IBAN.finditer(text):
        after = text[match.end() : match.end() + 1]
        verdict = _iban_verdict(match.group(), glued=after.isascii() and after.isalnum())
        if verdict is None:
            continue
        length, valid = verdict
        if not valid:
            refused.append((match.start() - shift, match.start() + length - shift))
            continue
        pieces += (text[last : match.start()], PLACEHOLDERS["iban"])
        last = match.start() + length
        shift += length - len(PLACEHOLDERS["iban"])
        found.add("iban")
    if not pieces:
        return text, refused
    pieces.append(text[last:])
    return "".join(pieces), refused


def _iban_verdict(candidate: str, *, glued: bool) -> tuple[int, bool] | None:
    """(characters, valid) of the IBAN ``candidate`` starts with, if it starts with one.

    Valid means the checksum holds (and the length, for a listed country). A candidate from a
    listed country with the right length but a wrong checksum is returned as not valid: it is a
    mistyped IBAN, which stays as written, and its digits are not read as a card or a phone.
    The regex may run on into a following word ("... 7034 THEN"), so the IBAN may end at any
    space inside the candidate; it may end at the candidate's end only if no letter or digit
    follows, which keeps hashes and other long tokens out.
    """
    ends = [index for index, char in enumerate(candidate) if char == " "]
    if not glued:
        ends.append(len(candidate))
    expected = IBAN_LENGTHS.get(candidate[:2].upper())
    refused: int | None = None
    for end in reversed(ends):
        compact = candidate[:end].replace(" ", "").upper()
        if expected is None:
            if 15 <= len(compact) <= 34 and _iban_checksum_ok(compact):
                return end, True
        elif len(compact) == expected:
            if _iban_checksum_ok(compact):
                return end, True
            refused = end
    return None if refused is None else (refused, False)


def _iban_checksum_ok(compact: str) -> bool:
    if not "02" <= compact[2:4] <= "98":  # ISO 13616 never issues 00, 01 or 99
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


# --- cards and phones ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Word:
    """A space-free piece of a number run, such as ``+44``, ``(0)20`` or ``2026-11-22``."""

    start: int
    end: int
    groups: tuple[str, ...]  # its digit groups; a "(0)" trunk digit is left out
    separators: frozenset[str]  # "-", "." or "/" found between its groups
    plus: bool
    parens: bool

    @classmethod
    def parse(cls, text: str, start: int) -> _Word:
        parens = "(" in text
        groups = _GROUP.findall(text.replace("(0)", " ") if parens else text)
        separators = frozenset("-" if char in _DASHES else char for char in text if char in _INNER)
        return cls(start, start + len(text), tuple(groups), separators, text[0] == "+", parens)

    @property
    def plain(self) -> bool:
        """Digits only: one group, no '+', no parentheses."""
        return len(self.groups) == 1 and not self.plus and not self.parens and not self.separators


def _redact_number_runs(
    text: str, found: set[str], *, cards: bool, phones: bool, refused: Sequence[tuple[int, int]]
) -> str:
    pieces: list[str] = []
    last = 0
    for match in _NUMBER_RUN.finditer(text):
        run = match.group()
        if len(run) < MIN_DIGITS:
            continue
        words = [_Word.parse(word.group(), word.start()) for word in _WORD.finditer(run)]
        if len(words) == 1 and words[0].plain and text[match.end() : match.end() + 1] in _GLUE:
            continue  # "1234567890abcdef" is a token, not a number
        blocked = [
            index
            for index, word in enumerate(words)
            if any(start <= match.start() + word.start < end for start, end in refused)
        ]
        for first, stop, kind in _number_spans(words, cards, phones, blocked):
            pieces += (text[last : match.start() + words[first].start], PLACEHOLDERS[kind])
            last = match.start() + words[stop - 1].end
            found.add(kind)
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def _number_spans(
    words: Sequence[_Word], cards: bool, phones: bool, blocked: Sequence[int]
) -> list[tuple[int, int, str]]:
    """(first word, end word, kind) of each card and phone in a run, in order.

    ``blocked`` words (the digits of a refused IBAN) belong to neither and split the run.
    """
    if not blocked:
        return _piece_spans(words, cards=cards, phones=phones)
    spans: list[tuple[int, int, str]] = []
    start = 0
    for stop in [*blocked, len(words)]:
        pieces = _piece_spans(words[start:stop], cards=cards, phones=phones)
        spans += ((start + i, start + j, kind) for i, j, kind in pieces)
        start = stop + 1
    return spans


def _piece_spans(
    words: Sequence[_Word], *, cards: bool, phones: bool
) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    if not words:
        return spans
    if cards and sum(len(group) for word in words for group in word.groups) >= 13:
        spans += ((i, j, "card") for i, j in _windows(words, _MAX_CARD_WORDS, _is_card))
    if phones:
        segment_start = 0
        # Cards and words that read as dates, versions, amounts... split the run into segments.
        stops = [(i, j) for i, j, _ in spans]
        stops += ((i, i + 1) for i, word in enumerate(words) if _reads_as_other_number(word))
        for i, j in [*sorted(stops), (len(words), len(words))]:
            segment = words[segment_start:i]
            if segment and not _grouped_reference(segment):
                found = _windows(segment, _MAX_PHONE_WORDS, _is_phone)
                spans += ((segment_start + a, segment_start + b, "phone") for a, b in found)
            segment_start = max(segment_start, j)
        spans.sort()
    return spans


def _windows(
    words: Sequence[_Word], widest: int, accept: Callable[[Sequence[_Word]], bool]
) -> list[tuple[int, int]]:
    """Greedy left to right: from each word, the widest accepted window of consecutive words."""
    windows: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        for j in range(min(len(words), i + widest), i, -1):
            if accept(words[i:j]):
                windows.append((i, j))
                i = j
                break
        else:
            i += 1
    return windows


def _is_card(words: Sequence[_Word]) -> bool:
    if len(words) == 1:
        word = words[0]
        if word.plus or word.parens or not word.separators <= {"-"}:
            return False
        groups = word.groups
    elif all(word.plain for word in words):
        groups = tuple(word.groups[0] for word in words)
    else:
        return False
    digits = "".join(groups)
    # No payment card number starts with 0 (ISO/IEC 7812), which spares zero-padded ids.
    return digits[0] != "0" and _card_shaped(groups) and _luhn_ok(digits)


def _card_shaped(groups: Sequence[str]) -> bool:
    if not 13 <= sum(map(len, groups)) <= 19:
        return False
    if len(groups) == 1:
        return True
    middle_ok = all(4 <= len(group) <= 6 for group in groups[1:-1])
    return len(groups[0]) == 4 and middle_ok and len(groups[-1]) <= 6


def _grouped_reference(segment: Sequence[_Word]) -> bool:
    """A number written in groups of four like a card (which the Luhn check refused), a parcel
    tracking number or a gift card: it stays whole rather than being half-read as phones."""
    if len(segment) < 3 or not all(word.plain for word in segment):
        return False
    sizes = [len(word.groups[0]) for word in segment]
    return all(size == 4 for size in sizes[:-1]) and sum(sizes) >= 12


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        total += _LUHN_DOUBLED[digit] if position % 2 else digit
    return total % 10 == 0


def _is_phone(words: Sequence[_Word]) -> bool:
    if any(word.plus for word in words[1:]):
        return False
    groups = [group for word in words for group in word.groups]
    digits = "".join(groups)
    count = len(digits)
    international = words[0].plus
    if not international and digits.startswith("00"):
        if digits[2:3] in ("", "0"):
            return False  # zero-padded id: no country code starts with 0
        international = True
        count -= 2
    if not 7 <= count <= 15:
        return False
    if len(groups) == 1:
        return international or _dialled_solid(digits)
    if len(groups) > _MAX_PHONE_WORDS or sum(len(group) == 1 for group in groups) > 1:
        return False
    if international:
        return True
    sizes = [len(group) for group in groups]
    if sizes[0] > 5:  # an area code or prefix: "1234567 7654321" is two ids
        return False
    if digits[0] != "0" and all(size == 2 for size in sizes):
        return False  # "12 15 18 22 30 41 55": a list of numbers, not "06 12 34 56 78"
    return not _thousands_grouped(words, sizes)


def _dialled_solid(digits: str) -> bool:
    if digits[0] == "0":
        return 9 <= len(digits) <= 12
    if len(digits) == 10:
        return digits[0] != "1"
    return len(digits) == 11


def _thousands_grouped(words: Sequence[_Word], sizes: Sequence[int]) -> bool:
    """An amount such as "12 500 000"; "612 345 678" (a Spanish mobile) stays a phone."""
    spaced = all(len(word.groups) == 1 for word in words)
    later_threes = len(sizes) >= 3 and all(size == 3 for size in sizes[1:])
    return spaced and later_threes and sizes[0] <= 2 and words[0].groups[0][0] != "0"


def _reads_as_other_number(word: _Word) -> bool:
    """Dates, ranges, fractions, IP addresses, versions, decimals, dotted amounts."""
    if word.plus or word.parens or len(word.groups) < 2:
        return False
    if len(word.separators) > 1:
        return True  # "10.30-11.30", "2026-11-22/23"
    separator = next(iter(word.separators))
    groups = word.groups
    sizes = [len(group) for group in groups]
    if len(groups) == 3 and _date_like(groups):
        return True
    if separator == ".":
        ip_like = len(groups) == 4 and max(sizes) <= 3 and max(map(int, groups)) <= 255
        thousands = sizes[0] <= 3 and all(size == 3 for size in sizes[1:])
        return len(groups) == 2 or min(sizes) == 1 or ip_like or thousands
    if len(groups) == 2:
        first, second = groups
        if separator == "/" and len(first) <= 2:
            return True  # "12/27", "3/4"; "030/1234567" (a German number) has a longer first part
        return _year_range(first, second) or _round_range(first, second)
    return False


def _date_like(groups: Sequence[str]) -> bool:
    first, second, third = groups
    if len(first) == 4 and len(second) <= 2 and len(third) <= 2:
        return 1 <= int(second) <= 12 and 1 <= int(third) <= 31
    if len(first) <= 2 and len(second) <= 2 and len(third) in (2, 4):
        a, b = int(first), int(second)
        return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)
    return False


def _year_range(first: str, second: str) -> bool:
    return len(first) == len(second) == 4 and 1900 <= int(first) <= int(second) <= 2099


def _round_range(first: str, second: str) -> bool:
    round_numbers = first.endswith("00") and second.endswith("00") and first[0] != "0"
    return round_numbers and second[0] != "0" and int(first) < int(second)
