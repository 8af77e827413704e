"""The paybill fallback's use cases against real databases: validation answers, and confirmations
funding through the same money-in use case as STK, once per TransID."""
import json

import pytest
from sqlalchemy import func, select

from escrow import ledger
from escrow.models import InboundCallback, JournalEntry, PaymentReceived, Payout, Reversal
from escrow.paybill import PaybillPayment
from escrow.payments import PaymentResult
from escrow.reports import ledger_findings
from escrow.service import EscrowService
from escrow.worker import Worker
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender

BUYER, SELLER = "0712345678", "0722000111"


@pytest.fixture
def service(database, core):
    return EscrowService(database, core)


def pay(order, amount=None, trans_id="SIMPB00001", account=None, shortcode="174379") -> PaybillPayment:
    return PaybillPayment(trans_id=trans_id, amount=order.charge if amount is None else amount,
                          account=order.reference if account is None else account, shortcode=shortcode)


def count(database, model, *where):
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def ledger_violations(database):
    with database.transaction() as session:
        return ledger_findings(session)[0]


def test_validation_accepts_only_a_payable_order_for_its_exact_amount_on_our_shortcode(service):
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    assert service.validate_paybill(pay(order)) == ("0", "Accepted")
    assert service.validate_paybill(pay(order, amount=order.charge + 1)) == ("C2B00013", "Rejected")
    assert service.validate_paybill(pay(order, account="00000000")) == ("C2B00012", "Rejected")
    assert service.validate_paybill(pay(order, shortcode="600999")) == ("C2B00015", "Rejected")
    assert service.validate_paybill(pay(order, shortcode="600999"), "600999") == ("0", "Accepted")
    service.cancel_order(BUYER, order.reference)
    assert service.validate_paybill(pay(order)) == ("C2B00012", "Rejected")


def test_a_confirmation_funds_the_order_once_per_trans_id(service, database):
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    callback_id = service.store_callback(source="c2b_confirmation", body=b"{}", remote_addr="127.0.0.1")
    assert service.record_paybill_payment(pay(order), callback_id) == "funded"
    assert service.record_paybill_payment(pay(order)) == "duplicate"
    assert service.order_for(BUYER, order.reference).state == "funded"
    with database.transaction() as session:
        received = session.scalar(select(PaymentReceived))
        assert (received.channel, received.attempt_id, received.outcome) == ("paybill", None, "funded")
        assert session.get(InboundCallback, callback_id).status == "applied"
        assert ledger.held_for(session, received.order_id) == order.charge
    assert count(database, JournalEntry) == 1 and ledger_violations(database) == []


def test_a_trans_id_already_seen_as_an_stk_receipt_is_a_duplicate(service, database, core):
    gateway = FakePaymentGateway()
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    Worker(database, core, gateway, FakeSmsSender()).run_once()
    stk = PaymentResult(gateway.pushes[-1]["checkout_id"], True, "0", "ok", order.charge, "SIMPB00001")
    assert service.record_payment_result(stk) == "funded"
    assert service.record_paybill_payment(pay(order)) == "duplicate"
    assert count(database, PaymentReceived) == 1


def test_a_wrong_amount_is_held_in_suspense_and_the_order_reviewed(service, database):
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    assert service.record_paybill_payment(pay(order, amount=400)) == "suspense"
    assert service.order_for(BUYER, order.reference).state == "needs_review"
    assert ledger_violations(database) == []


def test_a_second_payment_for_a_funded_order_is_returned(service, database):
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    service.record_paybill_payment(pay(order))
    assert service.record_paybill_payment(pay(order, trans_id="SIMPB00002")) == "refunding"
    assert count(database, Payout) == 0   # the payer's number is masked: reversed on its TransID, not B2C
    assert count(database, Reversal, Reversal.trans_id == "SIMPB00002") == 1
    assert ledger_violations(database) == []


@pytest.mark.parametrize("account, shortcode", [("nobody", "174379"), (None, "600999")])
def test_money_for_no_order_we_can_fund_is_held_with_a_finding(service, database, account, shortcode):
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    assert service.record_paybill_payment(pay(order, account=account, shortcode=shortcode)) == "suspense"
    assert service.record_paybill_payment(pay(order, account=account, shortcode=shortcode)) == "duplicate"
    assert service.order_for(BUYER, order.reference).state == "awaiting_payment"
    with database.transaction() as session:
        assert ledger.balance(session, ledger.SUSPENSE) == -order.charge
        bodies = session.scalars(select(InboundCallback.body).where(InboundCallback.source == "finding")).all()
    assert [json.loads(body)["kind"] for body in bodies] == ["paybill-unmatched"]
    assert [finding["kind"] for finding in service.open_findings()] == ["paybill-unmatched"]
    assert ledger_violations(database) == []
