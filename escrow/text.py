"""User-typed text made safe for GSM-7 screens and SMS."""
import unicodedata

_GSM7_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -.,'&/()+")


def to_plain(text: str) -> str:
    """Transliterate to plain letters (é -> e, curly quotes -> ') and drop anything else."""
    text = (text or "").replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(ch for ch in decomposed if ch in _PLAIN)
    return " ".join(kept.split())


def clean_item(text: str, settings) -> str:
    """An item description: plain characters, single spaces, at most `item_max_chars` long."""
    cleaned = to_plain(text)[: settings.item_max_chars].strip()
    return cleaned or "item"


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM7_BASIC for ch in text)
