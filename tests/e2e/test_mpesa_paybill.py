"""The paybill (C2B) end to end: M-Pesa asks our validation URL, then confirms; Daraja's answer codes,
a repeated confirmation, one for no order. Against the Daraja simulator, as test_mpesa_scenarios.py."""
from escrow.models import InboundCallback, PaymentReceived
from tests.e2e.conftest import CALLBACK_TOKEN
from tests.e2e.mpesa_live import (count, findings, ledger_ok, live, order_for, post, rows, settle, sim,  # noqa: F401
                                  start_live, state)


def test_paybill_payment_is_validated_and_funds_the_order(live, sim):
    buyer = "0711000014"
    result = live.cli("mpesa", "register-urls")
    assert result.exit_code == 0, result.output
    order = order_for(live, sim, buyer, "cancelled")   # the prompt failed; the SMS says use the paybill
    settle(live, sim)
    assert "Paybill 174379" in live.texts_to(buyer)[-1]
    sim.pay_bill(buyer, order.charge - 5, order.reference)   # wrong amount: refused at validation
    sim.pay_bill(buyer, order.charge, "99999999")            # no such order: refused at validation
    assert sim.drain(10)
    validations = rows(live, InboundCallback, InboundCallback.source == "c2b_validation")
    assert [(c.status, c.note) for c in validations] == [("refused", "C2B00013"), ("refused", "C2B00012")]
    assert count(live, InboundCallback, InboundCallback.source == "c2b_confirmation") == 0
    trans_id = sim.pay_bill(buyer, order.charge, order.reference)
    settle(live, sim)
    assert state(live, buyer, order.reference) == "funded"
    [received] = rows(live, PaymentReceived)
    assert (received.receipt, received.channel, received.outcome) == (trans_id, "paybill", "funded")
    ledger_ok(live)


def test_paybill_answers_use_dajaras_codes_and_a_confirmation_for_no_order_is_held(live, sim):
    buyer = "0711000015"
    order = order_for(live, sim, buyer, "no_callback")
    base = {"TransactionType": "Pay Bill", "TransID": "SIMPB00001", "TransTime": "20240706224852",
            "TransAmount": f"{order.charge}.00", "BusinessShortCode": "174379", "BillRefNumber": order.reference,
            "InvoiceNumber": "", "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": "2547 ***** 001",
            "FirstName": "JOHN", "MiddleName": "", "LastName": ""}
    validate = f"/hooks/c2b/validation/{CALLBACK_TOKEN}"
    assert post(live, validate, base).json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert post(live, validate, {**base, "BusinessShortCode": "600999"}).json()["ResultCode"] == "C2B00015"
    assert post(live, validate, {**base, "TransAmount": "1"}).json()["ResultCode"] == "C2B00013"
    assert post(live, validate, {**base, "BillRefNumber": "12"}).json()["ResultCode"] == "C2B00012"
    assert post(live, validate, {"nonsense": True}).json()["ResultCode"] == "C2B00016"
    confirm = f"/hooks/c2b/confirmation/{CALLBACK_TOKEN}"
    stray = {**base, "TransID": "SIMPB00002", "BillRefNumber": "nobody"}
    for _ in range(2):  # the same TransID twice: one effect
        assert post(live, confirm, stray).json() == {"ResultCode": 0, "ResultDesc": "Success"}
    assert count(live, PaymentReceived) == 1
    assert [f["kind"] for f in findings(live)] == ["paybill-unmatched"]
    assert state(live, buyer, order.reference) == "awaiting_payment"
    assert "suspense holds KES" in ledger_ok(live)


