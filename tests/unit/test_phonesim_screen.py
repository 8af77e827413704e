"""The phone simulator's reading of a dialled string and of a USSD answer (phonesim/screen.py)."""
import pytest

from phonesim.screen import SCREEN_LIMIT, PhoneSimError, assess, not_gsm7, parse_dialled

CODE = "*384*1234#"


def test_the_service_code_alone_opens_the_menu_with_empty_text():
    dialled = parse_dialled("*384*1234#", CODE)
    assert (dialled.service_code, dialled.text) == (CODE, "")


@pytest.mark.parametrize("typed, text", [("*384*1234*4#", "4"), ("*384*1234*1*0722000111#", "1*0722000111"),
                                         (" *384*1234*4# ", "4")])
def test_a_dial_through_shortcut_sends_its_digits_as_the_first_hops_text(typed, text):
    dialled = parse_dialled(typed, CODE)
    assert (dialled.service_code, dialled.text) == (CODE, text)


@pytest.mark.parametrize("typed", ["*384*9999#", "*384*1234", "*384*1234*#", "", "*100#"])
def test_another_code_is_an_invalid_mmi_code(typed):
    with pytest.raises(PhoneSimError, match="invalid MMI code"):
        parse_dialled(typed, CODE)


def test_characters_outside_gsm7_are_flagged_once_each():
    assert not_gsm7("Lipa KES 1,500 é € {}") == []
    assert not_gsm7("Order “Blue” — ok ✓ “") == ["“", "”", "—", "✓"]


def test_an_answer_is_measured_against_the_screen_limit_and_ats_deadline():
    short = assess("CON 1. Pay a seller\n2. My orders", 0.04)
    assert (short["kind"], short["length"], short["too_long"], short["timing"]) == ("CON", 28, False, "ok")
    long = assess("END " + "x" * (SCREEN_LIMIT + 1), 6.0)
    assert (long["kind"], long["too_long"], long["timing"]) == ("END", True, "slow")
    assert assess("CON hi", 10.5)["timing"] == "late"
    assert assess("Internal error", 0.1)["malformed"] is True
