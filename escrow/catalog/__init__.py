"""One message catalog, English and Kiswahili, for USSD screens and SMS alike.

Each language is a flat dict of key -> str.format template. USSD keys start with "ussd.",
SMS keys with "sms.". Both languages must have the same keys and the same placeholders.
"""
import string
from datetime import datetime, timedelta, timezone

from escrow.catalog import sms_en, sms_sw, ussd_en, ussd_sw

LANGUAGES = ("en", "sw")
DEFAULT_LANGUAGE = "en"

CATALOGS: dict[str, dict[str, str]] = {
    "en": {**ussd_en.MESSAGES, **sms_en.MESSAGES},
    "sw": {**ussd_sw.MESSAGES, **sms_sw.MESSAGES},
}


def render(language: str, key: str, **params) -> str:
    """The message `key` in `language` (English if the language is unknown), filled in."""
    catalog = CATALOGS.get(language) or CATALOGS[DEFAULT_LANGUAGE]
    return catalog[key].format(**params)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# One word per concept, so that a reader meets the same term on every screen and SMS. The catalogs
# use these (tests/unit/test_ussd_catalog.py checks that Kiswahili texts avoid the "avoid" words).
GLOSSARY: dict[str, dict[str, str]] = {
    "delivery code": {"en": "delivery code", "sw": "msimbo wa kupokea"},   # never "nambari" (a phone number)
    "phone number": {"en": "number", "sw": "nambari"},
    "order": {"en": "order", "sw": "oda"},
    "held (money kept by Zemi)": {"en": "held", "sw": "imehifadhiwa"},    # not "imeshikwa" (seized)
    "fee": {"en": "fee", "sw": "ada"},
    "seller / buyer": {"en": "seller / buyer", "sw": "muuzaji / mnunuzi"},
    "refund": {"en": "refund", "sw": "kurudishiwa pesa"},
    "release (pay the seller)": {"en": "release", "sw": "kumlipa muuzaji"},
    "sent (the goods)": {"en": "sent", "sw": "imetumwa"},
    "problem (dispute)": {"en": "problem", "sw": "tatizo"},
    "accept (an order)": {"en": "accept", "sw": "kukubali"},
}
AVOID = {"sw": ("Imeshikwa", "nambari ya kupokea", "nambari yako mpya", "Majaribio 1", "Unanunua kwa",
                "(analipa muuzaji)", "Kujaribu tena piga", "Hukumaliza")}

EAST_AFRICA = timezone(timedelta(hours=3), "EAT")   # Kenya keeps no daylight saving
MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "sw": ("Januari", "Februari", "Machi", "Aprili", "Mei", "Juni", "Julai", "Agosti", "Septemba",
           "Oktoba", "Novemba", "Desemba"),
}


def when(language: str, moment: datetime, *, with_time: bool = True) -> str:
    """A moment as a Kenyan reads it: East Africa Time, the month in the reader's language
    ("23 Nov 14:05", "23 Novemba 14:05"). Naive datetimes are UTC (how the database keeps them)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(EAST_AFRICA)
    months = MONTHS.get(language) or MONTHS[DEFAULT_LANGUAGE]
    day = f"{local.day} {months[local.month - 1]}"
    return f"{day} {local:%H:%M}" if with_time else day
