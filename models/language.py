"""Which language each message is in, cheaply enough to run on every message.

``detect_languages(texts)`` returns one ISO 639-1 code per text ("en", "zh", "de", ...), or
``UNDETERMINED`` ("und") when a text gives too little evidence (empty, numbers, emoji only, a
two-word headline the identifier is unsure about). Callers should treat "und" as *supported*:
calling a short English headline "unsupported" would silently drop it from alerts, which is
worse than scoring it.

How it stays cheap (the budget is well under 75 µs a message, 2 % of the pipeline):

1. Script first. Text that is mostly Han, kana or Hangul is Chinese, Japanese or Korean by
   its script alone (kana anywhere means Japanese; Hangul means Korean).
2. English by its function words: text with more unambiguous English function words ("the",
   "and", "you", "with", ...) than function words of other Latin-script languages is
   English. Most traffic takes this path and never reaches the identifier.
3. Plain-ASCII text with no function word of either kind (a headline, "$ABC beats") is
   undetermined: it is almost always English, and the identifier is unreliable on it anyway.
4. Everything else goes to py3langid (a naive Bayes byte n-gram model, 97 languages
   restricted to ``LANGUAGES``), on the first ``MAX_CHARS`` characters, and its answer is
   kept only when its probability is at least ``MIN_PROBABILITY``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

UNDETERMINED = "und"
MAX_CHARS = 160
MIN_PROBABILITY = 0.9
# Languages the identifier may answer; a smaller set is faster and avoids exotic answers
# ("pcm", "jv") for informal English. Extend when the stream carries other languages.
LANGUAGES = (
    "en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "ro", "hu",
    "tr", "ru", "uk", "el", "ar", "he", "fa", "hi", "bn", "id", "vi", "th", "zh", "ja", "ko",
)  # fmt: skip
# Unambiguous English function words (none is a common word in another Latin-script language).
ENGLISH_WORDS = frozenset(
    [
        "the",
        "and",
        "to",
        "of",
        "for",
        "with",
        "this",
        "that",
        "it",
        "you",
        "my",
        "your",
        "we",
        "our",
        "they",
        "their",
        "have",
        "has",
        "had",
        "not",
        "be",
        "been",
        "are",
        "were",
        "would",
        "should",
        "could",
        "there",
        "when",
        "how",
        "why",
        "who",
        "what",
        "which",
        "from",
        "about",
        "or",
        "can",
        "get",
        "do",
        "does",
        "did",
        "if",
        "all",
        "out",
        "up",
        "just",
        "than",
        "then",
        "them",
        "these",
        "those",
        "very",
        "really",
        "because",
        "i'm",
        "don't",
        "can't",
        "it's",
        "i've",
        "won't",
        "didn't",
        "doesn't",
        "isn't",
        "wasn't",
    ]
)
# Function words of other Latin-script languages: any of these sends a text to the identifier.
FOREIGN_WORDS = frozenset(
    [
        "de",
        "la",
        "le",
        "les",
        "et",
        "und",
        "der",
        "die",
        "das",
        "el",
        "los",
        "las",
        "que",
        "il",
        "che",
        "het",
        "een",
        "och",
        "ist",
        "nicht",
        "est",
        "pas",
        "por",
        "para",
        "con",
        "une",
        "des",
        "du",
        "je",
        "ne",
        "nous",
        "vous",
        "ich",
        "wir",
        "sie",
        "ein",
        "eine",
        "mit",
        "auf",
        "del",
        "una",
        "uno",
        "sono",
        "jest",
        "nie",
        "się",
        "dan",
        "yang",
        "ini",
        "itu",
        "bir",
        "ve",
        "bu",
        "ja",
        "og",
        "er",
        "av",
        "som",
        "att",
        "och",
        "är",
        "på",
    ]
)
PUNCTUATION = str.maketrans({ch: " " for ch in '\t\n.,;:!?"()[]{}<>/\\|*_=+#@$%^&~`-'})
HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
KANA = re.compile(r"[\u3040-\u30ff]")
HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
ACCENTED_OR_OTHER_SCRIPT = re.compile(r"[\u00c0-\u024f\u0370-\u1fff\u2c00-\ud7ff]")

_identifier: Any = None
_identifier_lock = threading.Lock()


def _langid() -> Any:
    """py3langid's identifier with probabilities, restricted to LANGUAGES; loaded once."""
    global _identifier
    with _identifier_lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(LANGUAGES))
            _identifier = identifier
    return _identifier


def load_identifier() -> None:
    """Load py3langid's model now (about a second) rather than on the first message that
    needs it; call it while a worker starts."""
    _langid()


def _by_script(text: str) -> str | None:
    cjk = len(HAN.findall(text))
    kana = len(KANA.findall(text))
    hangul = len(HANGUL.findall(text))
    letters = sum(ch.isalpha() for ch in text)
    if not letters or (cjk + kana + hangul) / letters < 0.3:
        return None
    if kana:
        return "ja"
    if hangul > cjk:
        return "ko"
    return "zh"


def detect_language(text: str) -> str:
    """One text's ISO 639-1 code, or ``"und"`` (see the module docstring)."""
    plain = text.isascii()  # a C-speed check; most of an English stream takes this branch
    if not plain:
        script = _by_script(text)
        if script is not None:
            return script
    words = text.lower().translate(PUNCTUATION).split()
    english = len(ENGLISH_WORDS.intersection(words))
    foreign = len(FOREIGN_WORDS.intersection(words))
    if english >= 1 and english > foreign:
        return "en"
    if foreign == 0 and (plain or not ACCENTED_OR_OTHER_SCRIPT.search(text)):
        # Plain Latin letters and no function word either way: a headline or a few words.
        # Scored as undetermined (served) instead of paying for the identifier.
        return UNDETERMINED
    language, probability = _langid().classify(text[:MAX_CHARS])
    return str(language) if probability >= MIN_PROBABILITY else UNDETERMINED


def detect_languages(texts: Sequence[str]) -> list[str]:
    """ISO 639-1 codes (or ``"und"``) for ``texts``, in order. Thread-safe."""
    return [detect_language(text) for text in texts]


def is_supported(language: str, supported: Sequence[str]) -> bool:
    """Whether a model that declares ``supported`` languages should score this message.

    Undetermined text is scored (it is usually short English); so is everything when a
    model declares ``"*"`` (any language).
    """
    return language == UNDETERMINED or "*" in supported or language in supported
