"""Issue 11 findings 5 and 9: numbers from outside are read from short strings of ASCII digits only.

An exponent (`1e1000000`) is never expanded, a long run of digits is refused by its length, and
another script's digits (Arabic-Indic ١٢٣, fullwidth ０７..) are never read as digits."""
import pytest

from escrow.errors import InvalidAmount, InvalidPhoneNumber
from escrow.money import MPESA_AMOUNT_CEILING, parse_whole_amount
from escrow.phone import normalize_msisdn
from escrow.reference import is_valid_reference
from tests.fakes.escrow_service import FakeEscrowService
from ussd.engine import start, step
from ussd.screens import Context

ARABIC_INDIC_NUMBER = "07\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"        # 07١٢٣٤٥٦٧٨
FULLWIDTH_NUMBER = "\uff10\uff17\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"  # ０７１２３４５６７８
BUYER = "+254711000111"


@pytest.mark.timeout(5)
@pytest.mark.parametrize("raw", ["1e1000000", "1E1000000", "9e999999999", "1e+1000000", " 1e1000000 "])
def test_an_exponent_amount_is_refused_at_once(raw):
    with pytest.raises(InvalidAmount):
        parse_whole_amount(raw)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("raw", ["9" * 100_000, "1" + "0" * 5000, "1" * 30, 10 ** 100_000, 1e308, 2 ** 63, -5, "-5"],
                         ids=["nines", "one-and-zeros", "thirty-ones", "huge-int", "1e308", "2^63", "minus-int", "minus-text"])
def test_an_amount_too_long_or_too_large_or_negative_is_refused(raw):
    with pytest.raises(InvalidAmount):
        parse_whole_amount(raw)


@pytest.mark.parametrize("raw,amount", [("1500", 1500), ("1500.0", 1500), ("1500.00", 1500), (1500.0, 1500),
                                        (1500, 1500), ("1,500", 1500), (" 1500 ", 1500), ("0", 0)])
def test_daraja_and_keypad_forms_of_a_whole_amount_are_read(raw, amount):
    assert parse_whole_amount(raw) == amount


@pytest.mark.parametrize("raw", ["1500.5", "1500.01", "1.5e3", "0x10", "1_500", "+1500", "1500.", ".0", "15,00",
                                 "\u0661\u0665\u0660\u0660", "\uff11\uff15\uff10\uff10", "1500\u0660", "NaN"])
def test_anything_but_ascii_digits_is_not_an_amount(raw):
    with pytest.raises(InvalidAmount):
        parse_whole_amount(raw)


def test_callers_can_apply_mpesas_own_ceiling():
    assert parse_whole_amount(str(MPESA_AMOUNT_CEILING), maximum=MPESA_AMOUNT_CEILING) == MPESA_AMOUNT_CEILING
    with pytest.raises(InvalidAmount):
        parse_whole_amount(MPESA_AMOUNT_CEILING + 1, maximum=MPESA_AMOUNT_CEILING)
    with pytest.raises(InvalidAmount):
        parse_whole_amount(float(2 ** 63 - 1), maximum=MPESA_AMOUNT_CEILING)


@pytest.mark.parametrize("raw", [ARABIC_INDIC_NUMBER, FULLWIDTH_NUMBER, "+2547\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
                                 "07\u09e7\u09e8\u09e9\u09ea\u09eb\u09ec\u09ed\u09ee", "0712345678" * 10_000],
                         ids=["arabic-indic", "fullwidth", "plus-arabic-indic", "bengali", "very-long"])
def test_another_scripts_digits_are_not_a_phone_number(raw):
    with pytest.raises(InvalidPhoneNumber):
        normalize_msisdn(raw)


def test_an_order_reference_is_ascii_digits_only():
    ascii_ref = next(f"4000000{d}" for d in "0123456789" if is_valid_reference(f"4000000{d}"))
    arabic = ascii_ref.translate(str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"))
    assert not is_valid_reference(arabic)


# ---- through the USSD flow -------------------------------------------------------------------

def walk(inputs, caller=BUYER):
    service = FakeEscrowService()
    ctx = Context(service, caller, service.language_of(caller))
    outcome = start(ctx)
    for answer in inputs:
        outcome = step(outcome.state, answer, ctx)
    return outcome, service


@pytest.mark.timeout(5)
@pytest.mark.parametrize("amount", ["1e1000000", "9" * 4000, "\u0661\u0665\u0660\u0660", "\uff11\uff15\uff10\uff10"],
                         ids=["exponent", "nines", "arabic-indic", "fullwidth"])
def test_a_hostile_ussd_amount_reprompts_for_digits(amount):
    outcome, service = walk(["1", "0722000222", amount])
    assert not outcome.reply.end and "whole amount" in outcome.reply.text
    assert service.calls == []


@pytest.mark.parametrize("number", [ARABIC_INDIC_NUMBER, FULLWIDTH_NUMBER])
def test_a_seller_number_in_other_digits_is_refused_on_ussd(number):
    outcome, _ = walk(["1", number])
    assert outcome.reply.text.startswith("That number is not valid")


@pytest.mark.parametrize("choice", ["\u0661", "\uff11", "\u00b9", "1" * 5000],
                         ids=["arabic-indic", "fullwidth", "superscript", "five-thousand-ones"])
def test_a_menu_choice_in_other_digits_is_invalid(choice):
    outcome, _ = walk([choice])
    assert "Invalid choice" in outcome.reply.text


@pytest.mark.parametrize("code", ["\u0661\u0662\u0663\u0664\u0665\u0666", "\uff11\uff12\uff13\uff14\uff15\uff16"])
def test_a_delivery_code_in_other_digits_is_refused_by_its_shape(code):
    outcome, service = walk(["4", code], caller="+254722000222")
    assert "The code has 6 digits" in outcome.reply.text
    assert not service.code_tries  # refused before the core was asked, so no try was used


@pytest.mark.parametrize("typed", ["\U0001F4F1\U0001F4F1", "   ", "\u0661\u0662"], ids=["emoji", "spaces", "arabic-indic"])
def test_an_item_with_nothing_plain_left_is_refused_not_stored_as_a_placeholder(typed):
    outcome, service = walk(["1", "0722000222", "1500", typed])
    assert not outcome.reply.end and "Please type a short description" in outcome.reply.text
