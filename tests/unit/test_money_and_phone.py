import pytest

from escrow.errors import InvalidAmount, InvalidPhoneNumber
from escrow.money import parse_whole_amount
from escrow.inbox import review_copy
from escrow.phone import mask, mask_numbers_in, normalize_msisdn, to_e164


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


@pytest.mark.parametrize("text,shown", [
    ('{"Name":"PhoneNumber","Value":254708374149}', '{"Name":"PhoneNumber","Value":0708***149}'),
    ("phoneNumber=%2B254711000111&status=Success", "phoneNumber=0711***111&status=Success"),
    ("from=+254110000111 to 0712345678.", "from=0110***111 to 0712***678."),
])
def test_numbers_inside_callback_bodies_are_masked(text, shown):
    assert mask_numbers_in(text) == shown


@pytest.mark.parametrize("untouched", ["20191219102115", "ws_CO_191220191020363925", "Amount=1500",
                                       "NLJ7RT61SV", "1254712345678", "2547123456789"])
def test_digits_that_are_not_a_whole_number_are_left_alone(untouched):
    assert mask_numbers_in(untouched) == untouched


def test_the_review_copy_of_a_payout_result_blanks_names_and_masks_numbers():
    raw = ('{"Key":"ReceiverPartyPublicName","Value":"254705912645 - JOHN DOE"},'
           '{"MSISDN":"254708374149","FirstName":"JOHN","MiddleName":"","LastName":"DOE","BillRefNumber":"12345674"}')
    copy = review_copy(raw)
    assert "JOHN" not in copy and "DOE" not in copy and "254" not in copy
    assert '"MSISDN":"0708***149"' in copy and '"BillRefNumber":"12345674"' in copy
