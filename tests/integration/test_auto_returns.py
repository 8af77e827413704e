"""Money for an order that can no longer take it goes back automatically only within caps (per
order, per day, amount per day); beyond them it is owed back with a finding, never sent. A paybill
payer's number arrives masked, so a paybill payment goes back by Reversal on its TransID, not B2C."""
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from escrow.funding import apply_money_in
from escrow.models import Order, OutboxItem, PaymentReceived, Payout, Reversal
from escrow.paybill import PaybillPayment
from escrow.reports import ledger_findings
from escrow.return_limits import ReturnLimits
from escrow.service import EscrowService

BUYER, SELLER = "0712345678", "0722000111"


def count(database, model, *where):
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def pay(database, core, order, receipt: str) -> str:
    with database.transaction() as session:
        return apply_money_in(session, core, order_id=order.id, attempt_id=None, receipt=receipt,
                              amount=order.charge, channel="stk")


def funded(database, core, buyer=BUYER):
    view = EscrowService(database, core).create_order(buyer=buyer, seller=SELLER, price=1_000, item="Kitenge")
    with database.transaction() as session:
        order = session.scalar(select(Order).where(Order.reference == view.reference))
        session.expunge(order)
    assert pay(database, core, order, f"FUND{order.id:06d}") == "funded"
    return order


def held_findings(database, core) -> list[dict]:
    return [f for f in EscrowService(database, core).open_findings() if f["kind"] == "return-held"]


def assert_ledger_balanced(database):
    with database.transaction() as session:
        assert ledger_findings(session)[0] == []


def test_one_automatic_return_per_order_then_findings(database, core):
    order = funded(database, core)
    assert pay(database, core, order, "EXTRA00001") == "refunding"
    assert pay(database, core, order, "EXTRA00002") == "return_held"
    assert pay(database, core, order, "EXTRA00003") == "return_held"
    assert count(database, Payout, Payout.purpose == "return") == 1
    with database.transaction() as session:   # the payer knows the receipt; the originator id hides it
        assert "EXTRA00001" not in session.scalar(select(Payout.originator_conversation_id))
    assert [f["receipt"] for f in held_findings(database, core)] == ["EXTRA00002", "EXTRA00003"]
    with database.transaction() as session:
        outcomes = session.scalars(select(PaymentReceived.outcome).order_by(PaymentReceived.id)).all()
    assert outcomes == ["funded", "refunding", "return_held", "return_held"]
    assert_ledger_balanced(database)


def test_returns_per_day_are_capped_by_count(database, core):
    core = replace(core, returns=ReturnLimits(per_order=1, per_day=2, amount_per_day=1_000_000))
    orders = [funded(database, core, f"07123456{n:02d}") for n in range(3)]
    outcomes = [pay(database, core, order, f"EXTRA{order.id:05d}") for order in orders]
    assert outcomes == ["refunding", "refunding", "return_held"]
    assert count(database, Payout, Payout.purpose == "return") == 2
    assert len(held_findings(database, core)) == 1
    assert_ledger_balanced(database)


def test_returns_per_day_are_capped_by_amount(database, core):
    first, second = funded(database, core, "0712345601"), funded(database, core, "0712345602")
    core = replace(core, returns=ReturnLimits(per_order=1, per_day=100, amount_per_day=first.charge + 1))
    assert pay(database, core, first, "EXTRA00001") == "refunding"
    assert pay(database, core, second, "EXTRA00002") == "return_held"
    assert "KES" in held_findings(database, core)[0]["summary"]


def test_a_paybill_payment_from_a_masked_number_goes_back_by_reversal(database, core):
    service = EscrowService(database, core)
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")

    def paybill(trans_id):
        return PaybillPayment(trans_id=trans_id, amount=order.charge, account=order.reference, shortcode="174379")
    assert service.record_paybill_payment(paybill("PB00000001")) == "funded"
    assert service.record_paybill_payment(paybill("PB00000002")) == "refunding"
    assert count(database, Payout) == 0
    with database.transaction() as session:
        [reversal] = session.scalars(select(Reversal)).all()
        assert (reversal.trans_id, reversal.amount, reversal.status) == ("PB00000002", order.charge, "queued")
        assert session.scalar(select(func.count()).select_from(OutboxItem)
                              .where(OutboxItem.kind == "reversal", OutboxItem.subject_id == reversal.id)) == 1
    assert_ledger_balanced(database)


@pytest.mark.parametrize("name", ["AUTO_RETURNS_PER_ORDER", "AUTO_RETURNS_PER_DAY", "AUTO_RETURNS_KES_PER_DAY"])
def test_return_limits_are_settings(name):
    from escrow.errors import ConfigError
    assert ReturnLimits.from_mapping({}) == ReturnLimits()
    assert ReturnLimits.from_mapping({name: "0"}) != ReturnLimits()
    with pytest.raises(ConfigError, match=name):
        ReturnLimits.from_mapping({name: "many"})


def test_a_reversal_the_outbox_gave_up_sending_is_a_finding(database, core):
    from escrow import outbox
    from escrow.reversals import check_reversal
    service = EscrowService(database, core)
    order = service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Kitenge")
    for trans_id in ("PB00000001", "PB00000002"):
        service.record_paybill_payment(PaybillPayment(trans_id=trans_id, amount=order.charge, account=order.reference,
                                                      shortcode="174379"))
    with database.transaction() as session:
        reversal_id = session.scalar(select(Reversal.id))
        send = session.scalar(select(OutboxItem.id).where(OutboxItem.kind == "reversal"))
        outbox.give_up(session, send, "DarajaUnreachable: could not reach Daraja")   # 8 failed tries, say

    class NoCalls:
        def query_reversal(self, **_):
            raise AssertionError("a reversal never sent is not asked about")
    assert check_reversal(database, core, NoCalls(), reversal_id) == "flagged"
    [finding] = [f for f in service.open_findings() if f["kind"] == "reversal-unknown"]
    assert "never sent" in finding["summary"] and finding["trans_id"] == "PB00000002"
