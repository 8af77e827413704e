"""Held paybill confirmations against real databases (the gateway is a recording port fake): asked
about with back-off, applied only on a matching 'Completed', never funded while pending, and a
finding (still held, no ledger effect) when M-Pesa never answers or answers otherwise."""
import json

import pytest
from sqlalchemy import func, select

from escrow.confirmation import MAX_CHECKS, MoneyInChecks, PaybillVerdict
from escrow.models import InboundCallback, JournalEntry, PaymentReceived
from escrow.service import EscrowService
from mpesa.c2b_routes import paybill_payment_from


class RecordingGateway:
    def __init__(self):
        self.queries = []

    def query_paybill_payment(self, *, trans_id, reply_to):
        self.queries.append((trans_id, reply_to))


@pytest.fixture
def setup(database, core):
    service = EscrowService(database, core)
    order = service.create_order(buyer="0712345678", seller="0722000111", price=1_000, item="Kitenge")
    gateway = RecordingGateway()
    checks = MoneyInChecks(database, core, gateway, paybill_payment_from, our_shortcode="174379")
    body = {"TransactionType": "Pay Bill", "TransID": "HELD000001", "TransTime": "20261202101010",
            "TransAmount": f"{order.charge}.00", "BusinessShortCode": "174379", "BillRefNumber": order.reference,
            "MSISDN": "2547 ***** 126", "FirstName": "JOHN"}
    callback_id = service.store_callback(source="c2b_confirmation", body=json.dumps(body).encode(),
                                         remote_addr="127.0.0.1")
    assert checks.hold_paybill_payment(paybill_payment_from(body), callback_id) == "held"
    return service, order, checks, gateway, callback_id


def status_of(database, callback_id):
    with database.transaction() as session:
        return session.get(InboundCallback, callback_id).status


def count(database, model):
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_no_answer_is_asked_again_then_a_finding_and_the_payment_stays_held(database, setup):
    service, order, checks, gateway, callback_id = setup
    outcomes = [checks.ask_about_paybill_payment(callback_id) for _ in range(MAX_CHECKS + 1)]
    assert outcomes == ["queried"] * MAX_CHECKS + ["flagged"]
    assert [trans_id for trans_id, _ in gateway.queries] == ["HELD000001"] * MAX_CHECKS
    assert status_of(database, callback_id) == "unconfirmed"
    assert [f["kind"] for f in service.open_findings()] == ["paybill-unconfirmed"]
    assert count(database, PaymentReceived) == 0 and count(database, JournalEntry) == 0


def test_pending_waits_and_a_matching_completed_funds_once(database, setup):
    service, order, checks, gateway, callback_id = setup
    assert checks.record_paybill_verdict(callback_id, PaybillVerdict("0", "ok", "HELD000001", "Pending", None)) \
        == "pending"
    assert service.order_for("0712345678", order.reference).state == "awaiting_payment"
    completed = PaybillVerdict("0", "ok", "HELD000001", "Completed", order.charge)
    assert checks.record_paybill_verdict(callback_id, completed) == "funded"
    assert checks.record_paybill_verdict(callback_id, completed) == "duplicate"
    assert service.order_for("0712345678", order.reference).state == "funded"
    assert checks.ask_about_paybill_payment(callback_id) == "settled" and gateway.queries == []


@pytest.mark.parametrize("verdict", [
    PaybillVerdict("0", "ok", "HELD000001", "Completed", 1),            # another amount
    PaybillVerdict("0", "ok", "OTHER00001", "Completed", None),         # another transaction
    PaybillVerdict("0", "ok", "HELD000001", "Reversed", None),
    PaybillVerdict("2001", "The initiator information is invalid."),
], ids=["amount", "receipt", "reversed", "refused"])
def test_any_other_answer_holds_it_for_review_with_no_ledger_effect(database, setup, verdict):
    service, order, checks, gateway, callback_id = setup
    assert checks.record_paybill_verdict(callback_id, verdict) == "contradicted"
    assert status_of(database, callback_id) == "contradicted"
    assert [f["kind"] for f in service.open_findings()] == ["paybill-contradicted"]
    assert count(database, PaymentReceived) == 0 and count(database, JournalEntry) == 0
    assert service.order_for("0712345678", order.reference).state == "awaiting_payment"
