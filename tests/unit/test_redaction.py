"""PII redaction: what is redacted, what is left alone, and the guarantees around it."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from moodwatch.settings import load_settings
from stream.redaction import PII_KINDS, Redactor

REDACTOR = Redactor()
PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CARD|IBAN)\]")


def luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it pass the Luhn test (written independently)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended on the right
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


def iban(country: str, bban: str) -> str:
    """A valid IBAN for ``country`` and account part ``bban`` (ISO 13616 check digits)."""
    numeric = "".join(str(int(char, 36)) for char in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def grouped(value: str, size: int = 4, separator: str = " ") -> str:
    return separator.join(value[i : i + size] for i in range(0, len(value), size))


# --- e-mail -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to anna@example.com", "write to [EMAIL]"),
        ("John.Doe+Newsletter@Mail.Example.CO.UK is mine", "[EMAIL] is mine"),
        ("a.b.c_d-e%f@sub1.sub-2.example.org", "[EMAIL]"),
        ("Contact <jane@example.com>.", "Contact <[EMAIL]>."),
        ("mail me (bob@example.io), thanks!", "mail me ([EMAIL]), thanks!"),
        ("is it bob@example.io? or bob@example.io!", "is it [EMAIL]? or [EMAIL]!"),
        ('"sales@example.com";', '"[EMAIL]";'),
        ("mailto:support@help.example.com", "mailto:[EMAIL]"),
        ("josé.müller@exämple.de schrieb", "[EMAIL] schrieb"),
        ("📧anna@example.com📧", "📧[EMAIL]📧"),
        ("邮箱anna@example.com谢谢", "邮箱[EMAIL]谢谢"),
        ("user@xn--bcher-kva.example", "[EMAIL]"),
        ("end of sentence: anna@example.com.", "end of sentence: [EMAIL]."),
        ("john..doe@example.com", "john..[EMAIL]"),
    ],
)
def test_email_is_redacted(text: str, expected: str) -> None:
    assert REDACTOR.redact(text) == (expected, ("email",))


@pytest.mark.parametrize(
    "text",
    [
        "thanks @anna and @support_team",
        "ssh admin@localhost or me@home",  # no dotted domain: not an address
        "meet @ example.com",
        "3 items @ 5.99 each",
        "price@5.99",
        "an @ alone, a trailing one@",
        "user@example",
    ],
)
def test_not_an_email(text: str) -> None:
    assert REDACTOR.redact(text) == (text, ())


# --- phone --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +44 20 7946 0958 today", "call [PHONE] today"),
        ("call +44 (0)20 7946 0958", "call [PHONE]"),
        ("US: +1 (555) 123-4567", "US: [PHONE]"),
        ("(555) 123-4567", "[PHONE]"),
        ("my number (555-123-4567) works", "my number ([PHONE]) works"),
        ("555.123.4567 or 555 123 4567", "[PHONE] or [PHONE]"),
        ("+1-800-555-0199 / 1-800-555-0199", "[PHONE] / [PHONE]"),
        ("local 555-0199 only", "local [PHONE] only"),
        ("+33 1 23 45 67 89", "[PHONE]"),
        ("06 12 34 56 78", "[PHONE]"),
        ("06.12.34.56.78", "[PHONE]"),
        ("0612345678", "[PHONE]"),
        ("0044 20 7946 0958", "[PHONE]"),
        ("+14155552671", "[PHONE]"),
        ("030/1234567 or 0171 1234567", "[PHONE] or [PHONE]"),
        ("03-1234-5678 and 090-1234-5678", "[PHONE] and [PHONE]"),
        ("+91 98765 43210", "[PHONE]"),
        ("07700 900123", "[PHONE]"),
        ("612 345 678", "[PHONE]"),
        ("tel:+4930123456", "tel:[PHONE]"),
        ("電話13812345678です", "電話[PHONE]です"),
        ("📞555-123-4567📞", "📞[PHONE]📞"),
        ("on 2026-11-22 555-123-4567", "on 2026-11-22 [PHONE]"),
        ("555-123-4567 555-987-6543", "[PHONE] [PHONE]"),
        ("ext 555-123-4567x89", "ext [PHONE]x89"),
        ("+49\u00a030\u00a012345678", "[PHONE]"),
    ],
)
def test_phone_is_redacted(text: str, expected: str) -> None:
    assert REDACTOR.redact(text) == (expected, ("phone",))


@pytest.mark.parametrize(
    "text",
    [
        "delivered 2026-11-22, picked up 22.11.2026, due 11/22/2026",
        "2026-11-22 14:30 and 2026-11-22T14:30:00",
        "meeting 14:30-15:30 or 9.30-11.30",
        "it cost 1,299.00 (was 1.299,00 €) plus 19.99",
        "prices 1299.99 1499.99",
        "the years 1999, 2000 and 2026; 2019-2026",
        "a range of 100-1000 or 1000-2000 units",
        "version 10.0.19041.1234, v2.3.4 and 1.2.3.4",
        "from 192.168.100.200 to 10.0.0.1",
        "order 1234567, ticket #12345678 and id 123456789",
        "orders 1234567 7654321",
        "https://shop.example.com/orders/5551234567",
        "12 500 000 people and 1.250.000 euros",
        "numbers 12 15 18 22 30 41 55",
        "tracking 1Z999AA10123456784 and 9400 1000 0000 0000 0000 00",
        "unix time 1732233600 or 1732233600123",
        "token 1234567890abcdef",
        "expires 12/27, cvv 123",
        "scores 3 1 4 1 5 9 2 6",
        "2+5551234567=x",
        "call 1.555.123.4567",  # a dotted number with a one-digit group reads as a version
    ],
)
def test_not_a_phone(text: str) -> None:
    assert REDACTOR.redact(text) == (text, ())


# --- card ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111111111111111 please", "card [CARD] please"),
        ("card 4111 1111 1111 1111.", "card [CARD]."),
        ("card 5555-5555-5555-4444!", "card [CARD]!"),
        ("amex 3782 822463 10005", "amex [CARD]"),
        ("amex 378282246310005", "amex [CARD]"),
        ("discover 6011 1111 1111 1117", "discover [CARD]"),
        ("old visa 4222222222222", "old visa [CARD]"),
        ("19 digits 6304 0000 0000 0000 018", "19 digits [CARD]"),
        ("(4111 1111 1111 1111)", "([CARD])"),
        ("💳4111111111111111💳", "💳[CARD]💳"),
        ("카드4111111111111111입니다", "카드[CARD]입니다"),
        ("4111 1111 1111 1111 exp 12/27 cvv 123", "[CARD] exp 12/27 cvv 123"),
        ("4111 1111 1111 1111 123", "[CARD] 123"),
        ("qty 12 4111 1111 1111 1111", "qty 12 [CARD]"),
        ("4111111111111111 and 5555555555554444", "[CARD] and [CARD]"),
    ],
)
def test_card_is_redacted(text: str, expected: str) -> None:
    assert REDACTOR.redact(text) == (expected, ("card",))


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567812345678 failed",  # 16 digits, Luhn says no
        "order 1234 5678 9012 3456",  # grouped like a card, Luhn says no: not half a phone either
        "order 1234-5678-9012-3456",
        "ref 41111111111111111111 is long",  # a valid card inside a longer solid run
        "ref 12341111111111111111",
        "padded 0000000000000000 and 0111111111111111",  # no card starts with 0
        "gift card 6035 3100 0000 0000 0000",
    ],
)
def test_not_a_card(text: str) -> None:
    assert REDACTOR.redact(text) == (text, ())


# --- IBAN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN] please"),
        ("IBAN: DE89370400440532013000.", "IBAN: [IBAN]."),
        ("iban de89 3704 0044 0532 0130 00", "iban [IBAN]"),
        ("GB82 WEST 1234 5698 7654 32", "[IBAN]"),
        ("FR14 2004 1010 0505 0001 3M02 606", "[IBAN]"),
        ("NL91ABNA0417164300, thanks", "[IBAN], thanks"),
        ("BE68 5390 0754 7034 THEN pay", "[IBAN] THEN pay"),
        ("NO93 8601 1117 947", "[IBAN]"),  # IBAN is taken before phone: the tail reads as one
        ("CH93 0076 2011 6238 5295 7 🙂", "[IBAN] 🙂"),
        ("MT84 MALT 0110 0001 2345 MTLC AST0 01S", "[IBAN]"),
        (f"Libya {iban('LY', '002048000002010012036')}", "Libya [IBAN]"),  # not in the table
    ],
)
def test_iban_is_redacted(text: str, expected: str) -> None:
    assert REDACTOR.redact(text) == (expected, ("iban",))


@pytest.mark.parametrize(
    "text",
    [
        "IBAN DE88 3704 0044 0532 0130 00",  # wrong check digits
        "IBAN DE89 3704 0044 0532 0130 01",  # wrong account digit
        f"IBAN {iban('DE', '37040044053201300')}",  # valid checksum, but Germany has 22 chars
        "xDE89370400440532013000 and DE89370400440532013000X",  # inside longer tokens
        "GB00 WEST 1234 5698 7654 32",
        "DE00 0370 4004 4053 2013 45",  # mod-97 holds, but 00 is never issued as check digits
    ],
)
def test_not_an_iban(text: str) -> None:
    assert REDACTOR.redact(text) == (text, ())


# --- several kinds, precedence, idempotence -----------------------------------------------------


def test_every_kind_in_one_message() -> None:
    text = (
        "Hi, I'm Anna (anna.k+shop@example.com, +49 151 23456789). Refund to "
        "DE89 3704 0044 0532 0130 00, not my card 4111-1111-1111-1111. Order 1234567 on 2026-11-22."
    )
    assert REDACTOR.redact(text) == (
        "Hi, I'm Anna ([EMAIL], [PHONE]). Refund to [IBAN], not my card [CARD]. "
        "Order 1234567 on 2026-11-22.",
        ("card", "email", "iban", "phone"),
    )


def test_card_takes_precedence_over_phone() -> None:
    # 15 digits in 4-6-5 groups would also pass as a phone number.
    assert REDACTOR.redact("3782 822463 10005") == ("[CARD]", ("card",))
    assert Redactor(["phone"]).redact("3782 822463 10005") == ("[PHONE]", ("phone",))


def test_email_goes_first_so_its_digits_do_not_become_a_phone() -> None:
    assert REDACTOR.redact("5551234567@example.com") == ("[EMAIL]", ("email",))


def test_unicode_text_around_pii_is_kept() -> None:
    text = "Привет! Мой номер +7 912 345-67-89, почта иван@пример.рф — ñandú ß 🇩🇪"
    redacted, kinds = REDACTOR.redact(text)
    assert redacted == "Привет! Мой номер [PHONE], почта иван@пример.рф — ñandú ß 🇩🇪"
    assert kinds == ("phone",)  # a Cyrillic address is out of scope, and documented as such


@pytest.mark.parametrize(
    "text",
    [
        "[EMAIL] [PHONE] [CARD] [IBAN]",
        "call [PHONE] or mail [EMAIL]; card [CARD]",
        "anna@example.com 4111 1111 1111 1111 +44 20 7946 0958 DE89 3704 0044 0532 0130 00",
        "x@a.co4111111111111111+44 20 7946 0958x@b.co",  # glued: needs more than one pass
    ],
)
def test_redaction_is_idempotent(text: str) -> None:
    once, _ = REDACTOR.redact(text)
    assert REDACTOR.redact(once) == (once, ())
    assert not re.search(r"\d{7}|@", PLACEHOLDER.sub("", once).replace(" ", ""))


def test_placeholders_alone_are_left_alone() -> None:
    assert REDACTOR.redact("[EMAIL][PHONE] [CARD]-[IBAN]") == ("[EMAIL][PHONE] [CARD]-[IBAN]", ())


# --- configuration ------------------------------------------------------------------------------


def test_disabled_kinds_are_left_in_place() -> None:
    text = "anna@example.com, +44 20 7946 0958, 4111 1111 1111 1111, DE89 3704 0044 0532 0130 00"
    assert Redactor(["email"]).redact(text) == (
        "[EMAIL], +44 20 7946 0958, 4111 1111 1111 1111, DE89 3704 0044 0532 0130 00",
        ("email",),
    )
    assert Redactor(["card", "iban"]).redact(text) == (
        "anna@example.com, +44 20 7946 0958, [CARD], [IBAN]",
        ("card", "iban"),
    )
    # With cards off, a card is not half-read as a phone number.
    assert Redactor(["phone"]).redact(text) == (
        "anna@example.com, [PHONE], 4111 1111 1111 1111, DE89 3704 0044 0532 0130 00",
        ("phone",),
    )


def test_empty_setting_disables_redaction() -> None:
    redactor = Redactor.from_setting("")
    assert not redactor.enabled
    assert redactor.redact("anna@example.com 4111111111111111") == (
        "anna@example.com 4111111111111111",
        (),
    )


def test_from_setting_reads_a_comma_separated_list() -> None:
    assert Redactor.from_setting(" email , phone,,").kinds == {"email", "phone"}
    assert Redactor.from_setting("email,phone,card,iban").kinds == set(PII_KINDS)


def test_default_setting_enables_every_kind(clean_env: pytest.MonkeyPatch) -> None:
    assert Redactor.from_setting(load_settings().pii_redaction).kinds == set(PII_KINDS)


@pytest.mark.parametrize("value", ["email,sms", "EMAIL", "email;phone", "creditcard"])
def test_from_setting_rejects_unknown_kinds(value: str) -> None:
    with pytest.raises(ValueError, match=r"unknown kind\(s\).*use a comma-separated subset of "
                       r"email,phone,card,iban, or an empty value"):
        Redactor.from_setting(value)


def test_constructor_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match=r"unknown PII kind\(s\) 'ssn': choose from email"):
        Redactor(["email", "ssn"])


# --- properties ---------------------------------------------------------------------------------

_PIECES = st.sampled_from([
    "anna@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "(555) 123-4567",
    "DE89 3704 0044 0532 0130 00", "2026-11-22", "1,299.00", "#1234567", "[CARD]", "@", "+",
    "(", ")", "-", ".", "/", " ", "\u00a0", "0", "7", "00", "x", "é", "你", "😀",
])
_MIXED_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=16).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=300), _MIXED_TEXT))
@example("a@b.co")
def test_never_raises_and_only_emails_can_grow(text: str) -> None:
    redacted, kinds = REDACTOR.redact(text)
    assert list(kinds) == sorted(set(kinds))
    assert set(kinds) <= set(PII_KINDS)
    # Every placeholder is shorter than what it replaces, except "[EMAIL]" for a 6-character
    # address like "a@b.co"; nothing else changes length.
    new_emails = redacted.count("[EMAIL]") - text.count("[EMAIL]")
    assert len(redacted) <= len(text) + max(0, new_emails)
    assert REDACTOR.redact(redacted) == (redacted, ())


def _card_numbers() -> st.SearchStrategy[str]:
    bodies = st.integers(min_value=13, max_value=19).flatmap(
        lambda length: st.tuples(
            st.sampled_from("123456789"),
            st.text(string.digits, min_size=length - 2, max_size=length - 2),
        )
    )
    return bodies.map(lambda parts: luhn_complete(parts[0] + parts[1]))


@settings(max_examples=400, deadline=None)
@given(
    card=_card_numbers(),
    layout=st.sampled_from(["solid", "spaces", "dashes"]),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
)
def test_a_luhn_valid_card_in_random_text_is_always_removed(
    card: str, layout: str, before: str, after: str
) -> None:
    layouts = {"solid": card, "spaces": grouped(card), "dashes": grouped(card, separator="-")}
    written = layouts[layout]
    text = f"{before} {written} {after}"
    redacted, kinds = REDACTOR.redact(text)
    assert written not in redacted
    # Usually as a card; if the random text around it glues on letters that make a valid IBAN,
    # the IBAN placeholder swallows it, which is just as private.
    assert {"card", "iban"} & set(kinds)


# Account-part formats from the IBAN registry: n = digit, a = capital letter, c = either.
_BBAN_FORMATS = {"DE": "n" * 18, "FR": "n" * 10 + "c" * 11 + "nn", "GB": "aaaa" + "n" * 14,
                 "NL": "aaaa" + "n" * 10, "ES": "n" * 20, "MT": "aaaa" + "n" * 5 + "c" * 18}
_FORMAT_CHARS = {"n": string.digits, "a": string.ascii_uppercase,
                 "c": string.digits + string.ascii_uppercase}


@st.composite
def _ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(_BBAN_FORMATS)))
    bban = "".join(draw(st.sampled_from(_FORMAT_CHARS[c])) for c in _BBAN_FORMATS[country])
    return iban(country, bban)


@settings(max_examples=300, deadline=None)
@given(
    value=_ibans(),
    spaced=st.booleans(),
    lower=st.booleans(),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_a_valid_iban_in_random_text_is_always_removed(
    value: str, spaced: bool, lower: bool, before: str, after: str
) -> None:
    written = grouped(value) if spaced else value
    written = written.lower() if lower else written
    redacted, kinds = REDACTOR.redact(f"{before} {written} {after}")
    assert written not in redacted
    assert "iban" in kinds


# --- the hot path -------------------------------------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "text",
    [
        "a" * 9_990 + "@example",  # a long word before an '@' with no domain
        "a@" * 5_000,
        "a." * 4_990 + "@x",
        "1 " * 5_000,  # a 5,000-group number run
        "1-" * 5_000,
        "(1)" * 3_300,
        "DE89" + " 1234" * 2_000,
        "9" * 10_000,
    ],
)
def test_adversarial_texts_stay_linear(text: str) -> None:
    # Backtracking blow-ups would take minutes on these 10,000-character texts.
    for _ in range(3):
        REDACTOR.redact(text)
