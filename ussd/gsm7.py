"""The USSD adapter's name for the core's one GSM-7 module (escrow/text.py): no second sanitiser."""
from escrow.text import GSM7_BASIC, SAFE, clip, is_gsm7, transliterate

__all__ = ["GSM7_BASIC", "SAFE", "clip", "is_gsm7", "transliterate"]
