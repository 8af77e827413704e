import pytest
from hypothesis import given, strategies as st

from escrow.errors import InvalidAmount, LimitExceeded
from escrow.fees import quote
from escrow.reference import damm_digit, is_valid_reference, new_reference
from escrow.settings import EscrowSettings

SETTINGS = st.builds(EscrowSettings, fee_bps=st.integers(0, 2_000), fee_min=st.integers(0, 50),
                     fee_max=st.integers(50, 5_000), fee_payer=st.sampled_from(["seller", "buyer"]),
                     order_min=st.just(50))


@given(price=st.integers(50, 250_000), settings=SETTINGS)
def test_payout_plus_fee_is_exactly_what_the_buyer_pays(price, settings):
    try:
        terms = quote(price, settings)
    except LimitExceeded as refused:    # the buyer pays the fee on top: the charge must fit M-Pesa's ceiling
        assert settings.fee_payer == "buyer" and refused.limit == "order_max"
        assert price > refused.value    # it names the largest price that fits, below this one
        return
    assert terms.charge <= 250_000
    assert all(isinstance(value, int) for value in (terms.fee, terms.charge, terms.payout))
    assert terms.payout + terms.fee == terms.charge
    assert terms.fee >= 0 and terms.payout >= 1
    assert terms.charge == (price if settings.fee_payer == "seller" else price + terms.fee)


def test_the_default_fee_is_one_and_a_half_percent_within_bounds():
    settings = EscrowSettings()
    assert quote(1_000, settings).fee == 15
    assert quote(100, settings).fee == 10          # the minimum
    assert quote(250_000, settings).fee == 1_000   # the maximum


@pytest.mark.parametrize("price,limit", [(49, "order_min"), (250_001, "order_max")])
def test_amounts_outside_the_limits_name_the_limit(price, limit):
    with pytest.raises(LimitExceeded) as error:
        quote(price, EscrowSettings())
    assert error.value.limit == limit


def test_a_non_integer_price_is_refused():
    with pytest.raises(InvalidAmount):
        quote(100.0, EscrowSettings())


def test_references_are_eight_digits_with_a_valid_check_digit():
    for _ in range(200):
        reference = new_reference()
        assert len(reference) == 8 and reference.isdigit() and is_valid_reference(reference)


@given(st.text(alphabet="0123456789", min_size=7, max_size=7))
def test_every_single_digit_error_is_caught(body):
    reference = body + damm_digit(body)
    for position in range(8):
        for digit in "0123456789":
            if digit != reference[position]:
                assert not is_valid_reference(reference[:position] + digit + reference[position + 1:])


@given(st.text(alphabet="0123456789", min_size=7, max_size=7))
def test_every_swap_of_neighbouring_digits_is_caught(body):
    reference = body + damm_digit(body)
    for position in range(7):
        swapped = reference[:position] + reference[position + 1] + reference[position] + reference[position + 2:]
        if swapped != reference:
            assert not is_valid_reference(swapped)
