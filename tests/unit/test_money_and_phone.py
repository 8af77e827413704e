import pytest

from escrow.errors import InvalidAmount, InvalidPhoneNumber
from escrow.money import parse_whole_amount
from escrow.phone import mask, normalize_msisdn, to_e164


@pytest.mark.parametrize("raw", [100, "100", "100.00", 100.0, "1,500"])
def test_whole_amounts_parse_to_int(raw):
    assert isinstance(parse_whole_amount(raw), int)


@pytest.mark.parametrize("raw", ["1.5", 1.5, "abc", "", None, True, "NaN", "Infinity"])
def test_fractional_or_junk_amounts_are_refused(raw):
    with pytest.raises(InvalidAmount):
        parse_whole_amount(raw)


@pytest.mark.parametrize("raw", ["0712345678", "+254712345678", "254712345678", "712345678", "0712 345 678"])
def test_kenyan_number_forms_normalize_to_daraja_form(raw):
    assert normalize_msisdn(raw) == "254712345678"


def test_safaricom_01_series_is_accepted():
    assert normalize_msisdn("0110123456") == "254110123456"
    assert to_e164("0110123456") == "+254110123456"


@pytest.mark.parametrize("raw", ["0812345678", "12345", "+255712345678", "07123456789", ""])
def test_non_kenyan_mobile_numbers_are_refused(raw):
    with pytest.raises(InvalidPhoneNumber):
        normalize_msisdn(raw)


def test_masking_hides_the_middle_digits():
    assert mask("254712345678") == "0712***678"
