"""Pull Transactions lines are outside input: every field is read from a bounded string, and a
line that cannot be read is kept with its problem, never guessed or dropped."""
from datetime import datetime

import pytest

from mpesa.statement import _flatten, clear_msisdn, read_amount, read_line, read_time

GOOD = {"transactionId": "LHG31AA5TX", "trxDate": "2020-08-05T10:13:00Z", "msisdn": 722000000,
        "sender": "", "transactiontype": "c2b-pay-bill-debit", "billreference": "ab12cd34 ",
        "amount": "233.00", "organizationname": "Daraja Pull API Test"}


def test_a_documented_line_is_read_in_the_cores_words():
    entry = read_line(GOOD, "600000")
    assert (entry.receipt, entry.at, entry.amount, entry.account, entry.kind, entry.problem) == (
        "LHG31AA5TX", datetime(2020, 8, 5, 10, 13), 233, "ab12cd34", "c2b-pay-bill-debit", None)


def test_field_names_are_read_whatever_their_case():
    entry = read_line({key.upper(): value for key, value in GOOD.items()}, "600000")
    assert entry.receipt == "LHG31AA5TX" and entry.amount == 233


@pytest.mark.parametrize("amount", ["233.8", "1e3", "-5", "１００", "2" * 30, "NaN", None, True, [], {"a": 1},
                                    "1,00,0.00.0"])
def test_an_amount_that_is_not_whole_shillings_makes_the_line_unreadable(amount):
    entry = read_line({**GOOD, "amount": amount}, "600000")
    assert entry.amount is None and "amount" in entry.problem


@pytest.mark.parametrize("value, expected", [("100", 100), ("100.00", 100), (100.0, 100), (250000, 250000),
                                             ("1,500.00", 1500)])
def test_whole_amounts_in_their_usual_spellings(value, expected):
    assert read_amount(value) == expected


def test_times_without_a_zone_are_east_africa_time():
    assert read_time("2020-08-05 13:13:00") == datetime(2020, 8, 5, 10, 13)
    assert read_time("20200805131300") == datetime(2020, 8, 5, 10, 13)
    assert read_time("yesterday") is None and read_time("2020-08-05T10:13:00Z" * 1000) is None


@pytest.mark.parametrize("receipt", ["", "lower", "AB", "X" * 40, "LHG31AA5T\u0660", None, {"x": 1}])
def test_a_receipt_that_is_not_m_pesas_shape_makes_the_line_unreadable(receipt):
    entry = read_line({**GOOD, "transactionId": receipt}, "600000")
    assert "transactionId" in entry.problem


def test_a_huge_or_nested_response_is_bounded():
    assert len(_flatten([[GOOD] * 3, GOOD, "junk", [["deeper"]]])) == 4
    assert _flatten({"not": "a list"}) == [] and _flatten(None) == []
    entry = read_line({**GOOD, "billreference": "R" * 10_000, "transactiontype": "T" * 10_000}, "600000")
    assert len(entry.account) == 40 and len(entry.kind) == 40


def test_only_a_full_kenyan_number_counts_as_clear():
    assert clear_msisdn("254712345678") == "254712345678"
    for masked in ("2547*****678", "722000000", "254712345678" + "0", "25471234567\u0661", ""):
        assert clear_msisdn(masked) is None
