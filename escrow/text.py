"""The one GSM-7 module: user-typed text made safe for USSD screens and SMS.

One foreign character switches a screen or an SMS to UCS-2 (half the room), so everything a
person types (an item, a dispute note) is transliterated to the printable ASCII part of the GSM-7
basic alphabet: accents dropped, curly quotes straightened, emoji removed, runs of spaces
collapsed. The USSD adapter and the core use these same functions, so what a person confirms on
a summary screen is exactly what is stored and sent (`clean_item` is idempotent).
"""
import unicodedata

GSM7_BASIC = frozenset(
    "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5\u0394_\u03a6\u0393"
    "\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\u00c6\u00e6\u00df\u00c9 !\"#\u00a4%&'()*+,-./0123456789"
    ":;<=>?\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7\u00bfabcdefghijklmnopqrstuvwxyz"
    "\u00e4\u00f6\u00f1\u00fc\u00e0"
)
# Printable ASCII that is also in the GSM-7 basic set (excludes [ ] { } \ ^ ~ | and backtick).
SAFE = frozenset(ch for ch in GSM7_BASIC if " " <= ch <= "~")
TYPED_MAX_CHARS = 1000   # longer input is cut before any work is done on it

_LOOKALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...", "\u00a0": " ", "\t": " ",
    "[": "(", "]": ")", "{": "(", "}": ")", "|": "/", "\\": "/", "~": "-", "^": "", "`": "'",
    "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u00f8": "o", "\u00d8": "O",
}


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic alphabet (no escapes, no UCS-2)."""
    return all(ch in GSM7_BASIC for ch in text)


def transliterate(text: str) -> str:
    """Plain GSM-7 on one line: é -> e, ’ -> ', emoji dropped, runs of spaces collapsed."""
    swapped = "".join(_LOOKALIKES.get(ch, ch) for ch in str(text or "")[:TYPED_MAX_CHARS])
    kept = "".join(_plain(ch) for ch in swapped)
    return " ".join(kept.split())


def _plain(ch: str) -> str:
    if ch in SAFE:
        return ch
    if ch in "\r\n":
        return " "
    return "".join(part for part in unicodedata.normalize("NFKD", ch) if part in SAFE)


def clip(text: str, width: int) -> str:
    """At most `width` characters, trailing space removed."""
    return text[: max(width, 0)].rstrip()


def clean_item(text: str, settings) -> str:
    """An item description as stored and shown: plain GSM-7, at most `item_max_chars` long.

    Idempotent, so the USSD summary (which shows `clean_item(typed)`) and the stored order
    (which stores `clean_item(shown)`) always agree. Nothing left gives "item"."""
    return clip(transliterate(text), settings.item_max_chars) or "item"
