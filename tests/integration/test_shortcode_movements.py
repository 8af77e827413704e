"""A shortcode's own movements in the core, on real databases (issue 12): how a statement line is
named, a reversal we asked for matched rather than posted twice, and our own facts placed on the
shortcode the money moved on, each once."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from escrow import ledger
from escrow.db import db_now
from escrow.models import InboundCallback, JournalEntry, PaymentReceived, Reversal, StatementLine
from escrow.statement.match import apply_line
from escrow.statement.placement import allocate_cash
from escrow.statement.runs import StatementEntry, start_run
from escrow.statement.shortcode_cash import cash_by_shortcode, classify, post_opening_balance

PAYBILL, B2C = "174379", "600000"
ROLES = {"stk": PAYBILL, "paybill": PAYBILL, "b2c": B2C}


def line(session, receipt, kind, amount, shortcode=PAYBILL):
    return StatementEntry(shortcode=shortcode, receipt=receipt, at=db_now(session), kind=kind, amount=amount,
                          movement="other")


def apply(database, core, receipt, kind, amount, shortcode=PAYBILL):
    with database.transaction() as session:
        run_id = start_run(session, shortcode=shortcode, window_start=db_now(session) - timedelta(hours=1),
                           window_end=db_now(session))
        return apply_line(session, core, line(session, receipt, kind, amount, shortcode), run_id)


@pytest.mark.parametrize("kind, amount, named", [
    ("Business Payment Charge", -22, "charge"), ("Pay Bill Charge", -5, "charge"),
    ("Withdraw Funds to Bank", -1_000, "sweep"), ("Organization Funds Transfer", -500, "sweep"),
    ("Organization Funds Transfer", 500, "top-up"), ("FloatAdjustment", 900, "top-up"),
    ("Reversal", -300, "reversal"), ("Pay Utility Reversal", -300, "reversal"),
    ("Promotion Payment", 40, None)])
def test_each_line_of_a_shortcodes_own_movements_is_named_by_its_reason(kind, amount, named):
    entry = StatementEntry(shortcode=PAYBILL, receipt="R1", at=None, kind=kind, amount=amount, movement="other")
    assert classify(entry) == named


def test_a_charge_a_sweep_and_a_top_up_are_posted_once_each_and_move_the_shortcodes_cash(database, core):
    assert apply(database, core, "TOPUP0001", "Organization Funds Transfer", 5_000, B2C) == "posted"
    assert apply(database, core, "CHARGE001", "Business Payment Charge", -22, B2C) == "posted"
    assert apply(database, core, "SWEEP0001", "Withdraw Funds to Bank", -1_000, PAYBILL) == "posted"
    assert apply(database, core, "SWEEP0001", "Withdraw Funds to Bank", -1_000, PAYBILL) == "known"   # again
    with database.transaction() as session:
        assert cash_by_shortcode(session) == {B2C: 5_000 - 22, PAYBILL: -1_000}
        assert ledger.balance(session, ledger.MPESA_CHARGES) == 22
        assert ledger.balance(session, ledger.MPESA_TRANSFERS) == 1_000 - 5_000
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 3


def test_a_line_of_no_kind_we_know_is_a_finding_and_posts_nothing(database, core):
    assert apply(database, core, "ODD000001", "Promotion Payment", 40) == "finding"
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 0
        [body] = session.scalars(select(InboundCallback.body).where(InboundCallback.source == "finding"))
        assert "statement-movement" in body and "ODD000001" in body


def reversed_payment(database, receipt, amount):
    """A payment we returned by Daraja's Reversal (its result already posted the money out)."""
    with database.transaction() as session:
        session.add(PaymentReceived(receipt=receipt, order_id=None, attempt_id=None, amount=amount,
                                    channel="paybill", outcome="refunding"))
        session.add(Reversal(order_id=None, trans_id=receipt, amount=amount, status="succeeded"))


def test_a_reversal_we_asked_for_is_matched_to_it_and_one_we_did_not_is_a_finding(database, core):
    reversed_payment(database, "PAID00001", 300)
    assert apply(database, core, "REV000001", "Reversal", -300) == "matched"
    assert apply(database, core, "REV000002", "Reversal", -300) == "finding"   # ours was taken by the first
    assert apply(database, core, "REV000003", "Reversal", -450) == "finding"   # no reversal of ours for that
    with database.transaction() as session:
        linked = session.scalar(select(StatementLine.payment_id).where(StatementLine.receipt == "REV000001"))
        assert linked == session.scalar(select(PaymentReceived.id).where(PaymentReceived.receipt == "PAID00001"))
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 0   # nothing posted twice


def test_our_facts_are_placed_on_the_shortcode_the_money_moved_on_once_and_the_rest_is_left_unplaced(database, core):
    with database.transaction() as session:
        session.add(PaymentReceived(receipt="IN0000001", order_id=None, attempt_id=None, amount=1_000,
                                    channel="paybill", outcome="suspense"))
        session.flush()
        ledger.post(session, kind="suspense", dedupe_key="in:IN0000001", order_id=None,
                    lines=[ledger.debit(ledger.MPESA_CASH, 1_000), ledger.credit(ledger.SUSPENSE, 1_000)])
        ledger.post(session, kind="mystery", dedupe_key="elsewhere:1", order_id=None,
                    lines=[ledger.debit(ledger.MPESA_CASH, 7), ledger.credit(ledger.SUSPENSE, 7)])
        assert allocate_cash(session, ROLES) == {"allocated": 1, "unplaced": 1}
    with database.transaction() as session:
        assert allocate_cash(session, ROLES) == {"allocated": 0, "unplaced": 1}
        assert cash_by_shortcode(session) == {PAYBILL: 1_000}
        assert ledger.balance(session, ledger.MPESA_CASH) == 1_007        # the total is unchanged


def test_an_opening_balance_is_posted_once_per_shortcode(database):
    with database.transaction() as session:
        assert post_opening_balance(session, B2C, 12_000) is True
        assert post_opening_balance(session, B2C, 13_000) is False
        assert cash_by_shortcode(session) == {B2C: 12_000}
        with pytest.raises(ledger.UnbalancedEntry):
            post_opening_balance(session, "not-a-code", 1)


def test_money_in_is_placed_on_the_shortcode_whose_statement_shows_it_before_its_channels(database):
    with database.transaction() as session:
        session.add(PaymentReceived(receipt="IN0000002", order_id=None, attempt_id=None, amount=400,
                                    channel="paybill", outcome="suspense"))
        session.flush()
        payment_id = session.scalar(select(PaymentReceived.id).where(PaymentReceived.receipt == "IN0000002"))
        session.add(StatementLine(shortcode="5555555", receipt="IN0000002", kind="CustomerBuyGoodsOnline",
                                  at=db_now(session), amount=400, payment_id=payment_id, status="posted"))
        ledger.post(session, kind="suspense", dedupe_key="in:IN0000002", order_id=None,
                    lines=[ledger.debit(ledger.MPESA_CASH, 400), ledger.credit(ledger.SUSPENSE, 400)])
        assert allocate_cash(session, ROLES) == {"allocated": 1, "unplaced": 0}
        assert cash_by_shortcode(session) == {"5555555": 400}
