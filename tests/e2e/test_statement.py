"""Statement reconciliation end to end (issue 12): the real app, its worker and `flask reconcile
statement`, the real Daraja client over HTTP against the simulator's Pull Transactions, on SQLite
and PostgreSQL. Each scenario ends as a funded order, a return, or a finding that names it."""
import json
import time
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select, update

from escrow.models import (InboundCallback, JournalEntry, Order, OutboxItem, PaymentAttempt, PaymentReceived, Payout,
                           StatementLine, StatementRun)
from escrow.statement.runs import covered_until
from tests.e2e.mpesa_live import sim, start_live  # noqa: F401 -- fixtures

SELLER = "0722000111"
NOMINATED = "0722000000"
STATEMENT = {"STATEMENT_SETTLE_SECONDS": "0", "STATEMENT_FIRST_LOOKBACK_SECONDS": "3600"}


@pytest.fixture
def start_statement_live(start_live):
    """start_statement_live(register=True, **settings): mpesa_live's service with statements read at
    once, registered for Pull Transactions unless `register` is false."""
    def start(register=True, **extra):
        live = start_live(**{**STATEMENT, **extra})
        if register:
            result = live.cli("mpesa", "register-pull", "--nominated-number", NOMINATED)
            assert result.exit_code == 0 and "Shortcode Registered Successfully" in result.output, result.output
        return live
    return start


@pytest.fixture
def live(start_statement_live):
    return start_statement_live()


# --- helpers --------------------------------------------------------------------------------
def settle(live, sim, rounds=2):
    for _ in range(rounds):
        live.run_worker()
        assert sim.drain(10)
    live.run_worker()


def pushed(live, sim, buyer, scenario=None, price=1_000):
    if scenario:
        sim.set_scenario(buyer, scenario, times=1)
    order = live.zemi.service.create_order(buyer=buyer, seller=SELLER, price=price, item="Blue kitenge")
    live.run_worker()
    assert sim.drain(10)
    return one(live, Order, Order.reference == order.reference)


def one(live, model, *where):
    with live.zemi.db.transaction() as session:
        return session.scalar(select(model).where(*where))


def rows(live, model, *where):
    with live.zemi.db.transaction() as session:
        return list(session.scalars(select(model).where(*where).order_by(model.id)))


def count(live, model, *where):
    with live.zemi.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def findings(live):
    return [json.loads(row.body) for row in rows(live, InboundCallback, InboundCallback.source == "finding")]


def kinds(live):
    return sorted(finding["kind"] for finding in findings(live))


def statement(live, *extra):
    """`flask reconcile statement` over the last hour and the next minute (UTC)."""
    now = datetime.utcnow()
    result = live.cli("reconcile", "statement", "--from", f"{now - timedelta(hours=1):%Y-%m-%d %H:%M:%S}",
                      "--to", f"{now + timedelta(minutes=1):%Y-%m-%d %H:%M:%S}", *extra)
    return result


def sim_post(sim, path, body):
    answer = requests.post(f"{sim.base_url}{path}", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def ledger_ok(live):
    result = live.cli("ledger", "check")
    assert result.exit_code == 0, result.output
    return result.output


def lose_the_checkout_id(live, order):
    """Issue 11 #1: Daraja accepted the push, but its CheckoutRequestID was never recorded."""
    with live.zemi.db.transaction() as session:
        session.execute(update(PaymentAttempt).where(PaymentAttempt.order_id == order.id)
                        .values(checkout_request_id=None, status="unknown"))


# --- money in that we never heard of --------------------------------------------------------
def test_a_paid_push_whose_callback_never_came_and_cannot_be_queried_is_funded_by_one_statement_pass(live, sim):
    buyer = "0711000101"
    order = pushed(live, sim, buyer, "no_callback")
    lose_the_checkout_id(live, order)
    settle(live, sim)
    assert one(live, Order, Order.id == order.id).state == "awaiting_payment"  # no query is possible
    [line] = [l for l in sim.simulator.statement.lines() if l["account"] == order.reference]

    result = statement(live)
    assert result.exit_code == 0, result.output
    assert "complete, 1 lines, 0 matched, 1 new, 0 missing, 0 findings" in result.output
    assert one(live, Order, Order.id == order.id).state == "funded"
    [attempt] = rows(live, PaymentAttempt, PaymentAttempt.order_id == order.id)
    [received] = rows(live, PaymentReceived)
    assert (attempt.status, attempt.receipt) == ("succeeded", line["receipt"])
    assert (received.receipt, received.amount, received.outcome, received.attempt_id) == (
        line["receipt"], order.charge, "funded", attempt.id)
    assert kinds(live) == []
    entries = count(live, JournalEntry)

    again = statement(live)   # idempotent: the same window again changes nothing
    assert again.exit_code == 0 and "1 lines, 1 matched, 0 new, 0 missing" in again.output
    assert count(live, PaymentReceived) == 1 and count(live, JournalEntry) == entries
    assert count(live, StatementRun, StatementRun.status == "complete") == 2
    assert "statement findings open: 0" in ledger_ok(live)


def test_a_paybill_payment_whose_confirmation_never_came_funds_its_order(live, sim):
    buyer = "0711000102"
    order = pushed(live, sim, buyer, "cancelled")
    settle(live, sim)
    sim.pay_bill(buyer, order.charge, order.reference.lower(), "174379")   # nobody registered to hear of it
    assert statement(live).exit_code == 0
    assert one(live, Order, Order.id == order.id).state == "funded"
    [received] = rows(live, PaymentReceived)
    assert (received.channel, received.outcome) == ("paybill", "funded")
    ledger_ok(live)


def test_statement_money_for_an_order_that_can_no_longer_take_it_is_returned_and_named(live, sim):
    buyer = "0711000103"
    order = pushed(live, sim, buyer, "cancelled")
    settle(live, sim)
    live.zemi.service.cancel_order(buyer, order.reference)
    receipt = sim_post(sim, "/_sim/statement/payment", {"phone": buyer, "amount": order.charge,
                                                        "account": order.reference})["TransID"]
    assert statement(live).exit_code == 0
    [received] = rows(live, PaymentReceived)
    assert (received.receipt, received.outcome) == (receipt, "refunding")
    [new] = [f for f in findings(live) if f["kind"] == "statement-new"]
    assert receipt in new["summary"] and new["outcome"] == "refunding" and new["order"] == order.reference
    # sent back by the existing rules for a payer known only masked (a Reversal, or a B2C return)
    assert count(live, OutboxItem, OutboxItem.kind.in_(("b2c_payout", "reversal"))) == 1
    assert "balance refunds_payable: -%s" % f"{order.charge:,}" in ledger_ok(live)


def test_statement_money_for_no_order_is_held_in_suspense_with_a_finding(live, sim):
    receipt = sim_post(sim, "/_sim/statement/payment", {"phone": "0711000104", "amount": 777,
                                                        "account": "NOSUCHREF"})["TransID"]
    assert statement(live).exit_code == 0
    [received] = rows(live, PaymentReceived)
    assert (received.receipt, received.outcome, received.order_id) == (receipt, "suspense", None)
    assert kinds(live) == ["paybill-unmatched", "statement-new"]
    assert "suspense holds KES 777" in ledger_ok(live)


# --- money in our books that the statement contradicts ----------------------------------------
def funded_by_callback(live, sim, buyer):
    order = pushed(live, sim, buyer)
    settle(live, sim)
    assert one(live, Order, Order.id == order.id).state == "funded"
    [received] = rows(live, PaymentReceived, PaymentReceived.order_id == order.id)
    return order, received


def test_a_callback_with_no_payment_behind_it_is_a_missing_finding(live, sim):
    order, received = funded_by_callback(live, sim, "0711000105")
    sim_post(sim, "/_sim/statement/scenario", {"receipt": received.receipt, "scenario": "omit"})
    result = statement(live)
    assert result.exit_code == 0 and "0 lines, 0 matched, 0 new, 1 missing" in result.output
    [missing] = findings(live)
    assert missing["kind"] == "statement-missing" and received.receipt in missing["summary"]
    assert missing["order"] == order.reference
    assert "statement findings open: 1" in ledger_ok(live)


def test_a_duplicated_statement_line_is_counted_once_and_named(live, sim):
    _, received = funded_by_callback(live, sim, "0711000106")
    sim_post(sim, "/_sim/statement/scenario", {"receipt": received.receipt, "scenario": "duplicate"})
    result = statement(live)
    assert result.exit_code == 0 and "2 lines, 1 matched, 0 new, 0 missing, 1 findings" in result.output
    assert kinds(live) == ["statement-duplicate"]
    assert count(live, PaymentReceived) == 1 and count(live, StatementLine) == 1
    ledger_ok(live)


def test_an_amount_drift_is_a_finding_and_never_a_correction(live, sim):
    order, received = funded_by_callback(live, sim, "0711000107")
    entries = count(live, JournalEntry, JournalEntry.kind != "cash_allocation")   # placing cash on its shortcode
    sim_post(sim, "/_sim/statement/scenario", {"receipt": received.receipt, "scenario": "drift",
                                               "amount": order.charge + 50})
    assert statement(live).exit_code == 0
    [drift] = findings(live)
    assert drift["kind"] == "statement-amount"
    assert (drift["statement_amount"], drift["ledger_amount"]) == (order.charge + 50, order.charge)
    assert one(live, PaymentReceived, PaymentReceived.id == received.id).amount == order.charge
    assert count(live, JournalEntry, JournalEntry.kind != "cash_allocation") == entries
    ledger_ok(live)


def test_a_payment_funded_on_an_stk_query_is_matched_by_order_amount_and_time_and_gets_its_real_receipt(live, sim):
    order = pushed(live, sim, "0711000108", "no_callback")
    time.sleep(0.2)     # past the simulator's callback_delay: its STK Query stops answering "being processed"
    settle(live, sim)   # the reconcile pass queries the push and funds it as QRY-<attempt id>
    [attempt] = rows(live, PaymentAttempt, PaymentAttempt.order_id == order.id)
    assert attempt.receipt == f"QRY-{attempt.id}"
    [line] = [l for l in sim.simulator.statement.lines() if l["account"] == order.reference]
    result = statement(live)
    assert result.exit_code == 0 and "1 lines, 1 matched, 0 new, 0 missing, 0 findings" in result.output
    assert one(live, PaymentAttempt, PaymentAttempt.id == attempt.id).receipt == line["receipt"]
    assert one(live, StatementLine, StatementLine.receipt == line["receipt"]).status == "matched"
    assert count(live, PaymentReceived) == 1 and kinds(live) == []


# --- runs, windows and coverage -------------------------------------------------------------
def test_the_scheduled_windows_overlap_and_every_run_is_recorded(live, sim):
    funded_by_callback(live, sim, "0711000109")
    statement_pass = live.zemi.reconciler.statement
    [first] = statement_pass.run()
    [second] = statement_pass.run()
    assert first.status == second.status == "complete"
    assert second.start < first.end and second.end >= first.end
    assert (first.counts["matched"], second.counts["matched"]) == (1, 1)
    with live.zemi.db.transaction() as session:
        assert covered_until(session) == second.end
    assert "last complete day" in ledger_ok(live)


def test_a_statement_that_cannot_be_fetched_is_a_failed_run_that_covers_nothing(start_statement_live, sim):
    live = start_statement_live(register=False)   # never registered for Pull Transactions: Daraja refuses
    result = statement(live)
    assert result.exit_code == 1 and "failed" in result.output and "statement not fetched" in result.output
    [run] = rows(live, StatementRun)
    assert run.status == "failed" and run.finished_at is not None
    with live.zemi.db.transaction() as session:
        assert covered_until(session) is None
    assert kinds(live) == ["statement-failed"]
    assert live.cli("reconcile", "statement").exit_code == 1 and kinds(live) == ["statement-failed"]  # once a day


# --- the org portal's export, for what Pull Transactions no longer reaches -----------------------
def test_a_portal_statement_export_reconciles_a_window_pull_can_no_longer_reach(live, sim, tmp_path):
    buyer = "0711000110"
    order = pushed(live, sim, buyer, "no_callback")
    lose_the_checkout_id(live, order)
    _, other = funded_by_callback(live, sim, "0711000111")
    [line] = [l for l in sim.simulator.statement.lines() if l["account"] == order.reference]
    when = line["at"].strftime("%Y-%m-%d %H:%M:%S")   # the export's times are M-Pesa's (EAT)
    export = tmp_path / "statement.csv"
    export.write_text(
        "Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,"
        "Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.\n"
        f"{line['receipt']},{when},{when},Pay Bill Online,Completed,{order.charge}.00,,9000.00,true,"
        f"Pay Bill Online,2547*****101 - J D,,{order.reference}\n"
        f"{other.receipt},{when},{when},Pay Bill Online,Completed,{other.amount}.00,,9000.00,true,"
        f"Pay Bill Online,2547*****111 - J D,,x\n"
        f"SWEEP00001,{when},{when},Transfer to bank,Completed,,-5000.00,4000.00,true,"
        f"Organization Funds Transfer,BANK,,\n"
        f"FAILED0001,{when},{when},Pay Bill Online,Failed,999.00,,4000.00,true,Pay Bill Online,x,,"
        f"{order.reference}\n")
    result = live.cli("reconcile", "statement", "--csv", str(export), "--shortcode", "174379")
    assert result.exit_code == 0, result.output
    assert "3 lines, 1 matched, 1 new, 0 missing, 0 findings" in result.output
    assert one(live, Order, Order.id == order.id).state == "funded"
    assert one(live, StatementLine, StatementLine.receipt == "SWEEP00001").status == "posted"   # a sweep
    [run] = rows(live, StatementRun)
    assert (run.source, run.status) == ("csv", "complete")
    ledger_ok(live)


def test_a_file_that_is_not_a_statement_export_is_refused_whole(live, tmp_path):
    export = tmp_path / "junk.csv"
    export.write_text("name,phone\nJohn,0712345678\n")
    result = live.cli("reconcile", "statement", "--csv", str(export), "--shortcode", "174379")
    assert result.exit_code == 1 and "not an M-Pesa statement export" in result.output
    assert rows(live, StatementRun) == []


def test_the_b2c_statement_confirms_our_payouts_and_names_a_transfer_we_never_made(live, sim, tmp_path):
    from mpesa.simulator_scenarios import eat_now
    buyer = "0711000112"
    order, _ = funded_by_callback(live, sim, buyer)
    match = live.zemi.service.check_delivery_code(caller=SELLER, code=live.delivery_code(buyer))
    live.zemi.service.confirm_delivery(caller=SELLER, reference=order.reference, token=match.token)
    settle(live, sim)
    [payout] = rows(live, Payout)
    assert payout.status == "succeeded"
    sim.simulator.statement.add(shortcode="600000", receipt="UNKNOWN001", at=eat_now(), kind="BusinessPayment",
                                amount=-700, msisdn="254711999999")
    export = tmp_path / "b2c.csv"
    export.write_text(requests.get(f"{sim.base_url}/_sim/statement.csv", params={"shortcode": "600000"},
                                   timeout=10).text)
    result = live.cli("reconcile", "statement", "--csv", str(export), "--shortcode", "600000")
    assert result.exit_code == 0, result.output
    assert "3 lines, 1 matched, 0 new, 0 missing, 1 findings" in result.output   # payout, its charge, unknown
    [unknown] = findings(live)
    assert unknown["kind"] == "statement-unknown-transfer" and "UNKNOWN001" in unknown["summary"]
    assert one(live, StatementLine, StatementLine.receipt == payout.receipt,
               StatementLine.kind == "Business Payment to Customer via API").status == "matched"
    ledger_ok(live)


def test_the_worker_alone_funds_a_paid_push_it_could_not_query_on_its_next_scheduled_pass(start_statement_live, sim):
    live = start_statement_live(STATEMENT_RECONCILE_EVERY_SECONDS="1")
    order = pushed(live, sim, "0711000113", "no_callback")   # (its worker pass may run a statement pass too)
    lose_the_checkout_id(live, order)
    time.sleep(1.1)                                          # one STATEMENT_RECONCILE_EVERY_SECONDS since then
    live.run_worker()                                        # no person involved: the worker's own pass
    assert one(live, Order, Order.id == order.id).state == "funded"
    assert [(run.source, run.status) for run in rows(live, StatementRun)][-1] == ("api", "complete")
    assert sum(run.new for run in rows(live, StatementRun)) == 1


def test_a_gap_pull_can_no_longer_reach_is_named_for_the_portal_export(live, sim):
    from escrow.db import db_now
    from escrow.statement.runs import finish_run, start_run
    with live.zemi.db.transaction() as session:   # the last complete run ended three days ago
        now = db_now(session)
        run_id = start_run(session, shortcode="174379", window_start=now - timedelta(days=4),
                           window_end=now - timedelta(days=3))
        finish_run(session, run_id, status="complete")
    [summary] = live.zemi.reconciler.statement.run()
    assert summary.status == "complete"
    [gap] = findings(live)
    assert gap["kind"] == "statement-gap" and "--csv" in gap["summary"]
    with live.zemi.db.transaction() as session:
        assert covered_until(session) == now - timedelta(days=3)   # coverage waits for the export
