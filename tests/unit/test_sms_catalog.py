"""The SMS catalog: both languages alike, GSM-7 only, every text one segment at its longest.

Keys under sms.stk_reason. are not texts but the {reason} of sms.payment_failed, rendered in
the recipient's language by escrow.payments; payment_failed is checked with each of them.
"""
import pytest

from escrow.catalog import CATALOGS, placeholders, render
from escrow.text import is_gsm7

SEGMENT = 160
LANGUAGES = ("en", "sw")
# Keys the core queues (escrow/*.py) and the replies to HELP and STOP (escrow/sms_events.py).
EXPECTED = {
    "code_to_buyer", "held_to_seller", "payout_to_seller", "released_to_buyer", "help", "stopped",
    "payment_failed", "payment_request_to_buyer", "request_declined_to_seller", "order_expired",
    "order_cancelled", "refund_sent", "refund_queued", "dispatched_to_buyer", "dispute_opened",
    "dispute_released", "dispute_refunded", "dispute_split", "code_locked_to_buyer", "new_code_to_buyer", "reminder_to_pay",
    "reminder_to_pay_paybill",   # the buyer's line is not on M-Pesa: no prompt was sent (ussd/network.py)
    "reminder_to_dispatch", "reminder_to_confirm", "payment_returned", "verification_code",
    "refund_seller_cancelled", "refund_not_dispatched", "dispute_received",
    "payment_link_to_buyer", "pay_link_to_seller",
    "erasure_confirm", "erasure_now", "erasure_later",   # answers to ERASE / FUTA (escrow/privacy/erasure.py)
}


FRAGMENT = "sms.stk_reason."
# words filled into texts in the reader's language: a dispute's reason, who pays the fee
OTHER_FRAGMENTS = ("sms.reason.", "sms.party.")


def sms_keys(language):
    """The texts (not the fragments filled into them)."""
    return sorted(key for key in CATALOGS[language]
                  if key.startswith("sms.") and not key.startswith((FRAGMENT, *OTHER_FRAGMENTS)))


def fragment_keys(language):
    return sorted(key for key in CATALOGS[language] if key.startswith(FRAGMENT))


def longest(language, prefix):
    return max((text for key, text in CATALOGS[language].items() if key.startswith(prefix)), key=len)


def long_values(language):
    """The longest realistic value of every placeholder an SMS may use."""
    return {"charge": "251,000", "price": "250,000", "payout": "250,000", "amount": "251,000",
            "fee": "1,000", "item": "Samsung Galaxy A15 X", "ref": "12345678", "code": "123456",
            "buyer": "0712345678", "seller": "0712345678", "receipt": "SG632NMUAB",
            "paybill": "6001001", "support": "+254700123456", "fee_pct": "1.25", "fee_min": "1,000",
            "fee_max": "10,000", "fee_note": longest(language, "ussd.fee_by."),
            "reason": longest(language, FRAGMENT), "problem": longest(language, "sms.reason."),
            "ussd_code": "*483*123*45#", "dial_order": "*483*123*45*3*12345678#",
            "payer": longest(language, "sms.party."), "word": "ERASE",
            "deadline": "23 Septemba 14:05", "minutes": "30", "to_seller": "249,999", "to_buyer": "249,999",
            "link": "https://pay.zemi.co.ke/p/" + "x" * 22}   # a payment link: 128-bit token, 22 characters


def test_both_languages_have_the_expected_sms_keys():
    assert {key.removeprefix("sms.") for key in sms_keys("en")} == EXPECTED
    assert sms_keys("sw") == sms_keys("en")


@pytest.mark.parametrize("key", sms_keys("en"))
def test_both_languages_use_the_same_placeholders(key):
    assert placeholders(CATALOGS["sw"][key]) == placeholders(CATALOGS["en"][key])
    assert placeholders(CATALOGS["en"][key]) <= set(long_values("en"))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", sms_keys("en"))
def test_every_text_fits_one_gsm7_segment_at_its_longest(language, key):
    text = render(language, key, **long_values(language))

    assert is_gsm7(text), [ch for ch in text if not is_gsm7(ch)]
    assert len(text) <= SEGMENT, f"{language} {key}: {len(text)} characters"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("fragment", fragment_keys("en"))
def test_a_failed_payment_fits_one_segment_with_every_reason(language, fragment):
    reason = render(language, fragment)
    text = render(language, "sms.payment_failed", **{**long_values(language), "reason": reason})

    assert is_gsm7(reason) and placeholders(CATALOGS[language][fragment]) == set()
    assert len(text) <= SEGMENT, f"{language} {fragment}: {len(text)} characters"


def test_both_languages_have_the_same_failure_reasons():
    assert fragment_keys("en") and fragment_keys("sw") == fragment_keys("en")
    assert "sms.stk_reason.other" in fragment_keys("en")


@pytest.mark.parametrize("language", LANGUAGES)
def test_texts_name_zemi_so_a_fake_sms_stands_out(language):
    for key in sms_keys(language):
        assert "Zemi" in CATALOGS[language][key], key
