"""What an operator does from the command line: resolve disputes, return mismatched payments."""
import pytest

from tests.e2e.test_journey import BUYER, SELLER, reference_in, settle


def disputed_order(live, simulator, price="1500"):
    reference = reference_in(live.dial(BUYER, "1", "0722000111", price, "Blue kitenge", "1")[-1])
    settle(live, simulator)
    live.zemi.service.open_dispute(BUYER, reference, "damaged")
    return reference


@pytest.mark.parametrize("args,final", [(["--release"], "paid_out"), (["--refund"], "refunded"),
                                        (["--split", "1000"], "settled")])
def test_an_operator_resolves_a_dispute_and_both_parties_are_told(live, simulator, args, final):
    reference = disputed_order(live, simulator)
    result = live.cli("disputes", "resolve", reference, *args, "--note", "photos checked")
    assert result.exit_code == 0, result.output
    settle(live, simulator)
    shown = live.cli("orders", "show", reference).output
    assert shown.startswith(f"{reference} {final}") and "photos checked" in shown
    assert any(reference in text for text in live.texts_to(SELLER)[-2:])
    assert live.cli("ledger", "check").exit_code == 0


def test_resolving_needs_exactly_one_outcome_and_an_open_dispute(live, simulator):
    reference = disputed_order(live, simulator)
    assert live.cli("disputes", "resolve", reference, "--note", "x").exit_code != 0
    assert live.cli("disputes", "resolve", reference, "--release", "--split", "5", "--note", "x").exit_code != 0
    assert live.cli("disputes", "resolve", reference, "--split", "1500", "--note", "x").exit_code == 1  # > charge - fee
    assert live.cli("disputes", "resolve", "99999999", "--refund", "--note", "x").exit_code == 1


def test_a_wrong_amount_held_in_suspense_is_returned_by_the_operator(live, simulator):
    simulator.set_scenario("254712345678", "wrong_amount")
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} needs_review")
    result = live.cli("orders", "return-payment", reference, "--note", "paid 1,499")
    assert result.exit_code == 0, result.output
    settle(live, simulator)
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} refunded")
    payouts = simulator.requests_received("/mpesa/b2c/v3/paymentrequest")
    assert [str(p["json"]["Amount"]) for p in payouts] == ["1499"]
    check = live.cli("ledger", "check")
    assert check.exit_code == 0 and "suspense holds" not in check.output


def test_orders_list_finds_what_needs_an_operator_with_numbers_masked(live, simulator):
    disputed = disputed_order(live, simulator)
    simulator.set_scenario("254712345678", "wrong_amount")
    mismatched = reference_in(live.dial(BUYER, "1", "0722000111", "900", "Red shuka", "1")[-1])
    settle(live, simulator)
    everything = live.cli("orders", "list").output.splitlines()
    assert [line.split()[:2] for line in everything] == [[mismatched, "needs_review"], [disputed, "disputed"]]
    assert "dispute=damaged" in everything[1] and "0722***111" in everything[1] and "0722000111" not in everything[1]
    attention = live.cli("orders", "list", "--attention").output.splitlines()
    assert [line.split()[0] for line in attention] == [mismatched, disputed]
    assert live.cli("orders", "list", "--state", "funded").output.strip() == "no orders"
    assert "seller=254722000111" in live.cli("orders", "list", "--number", "0722000111", "--reveal").output
    assert live.cli("orders", "list", "--number", "0733999888").output.strip() == "no orders"
    assert [line.split()[0] for line in live.cli("orders", "list", "--limit", "1").output.splitlines()] == [mismatched]
    refused = live.cli("orders", "list", "--number", "12345")
    assert refused.exit_code == 1 and "not a Kenyan mobile number" in refused.output
