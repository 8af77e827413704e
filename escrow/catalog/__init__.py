"""One message catalog, English and Kiswahili, for USSD screens and SMS alike.

Each language is a flat dict of key -> str.format template. USSD keys start with "ussd.",
SMS keys with "sms.". Both languages must have the same keys and the same placeholders.
"""
import string

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
