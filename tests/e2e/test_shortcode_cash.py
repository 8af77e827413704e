"""Each shortcode's cash account in the ledger equals its balance at M-Pesa (issue 12): a day of
payments, payouts with M-Pesa's charges, a top-up of the B2C float and a sweep to the bank, through
the real app, the simulator over HTTP, `flask reconcile statement --csv` (the org portal's export:
Pull Transactions carries customer payments only) and `flask mpesa balance`."""
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from escrow import ledger
from escrow.models import JournalEntry, Payout, Reversal, StatementLine
from escrow.statement.shortcode_cash import cash_by_shortcode
from mpesa.simulator import SimulatorServer
from tests.e2e.test_float import released
from tests.e2e.test_statement import (findings, ledger_ok, live, one, rows, settle, start_live,  # noqa: F401  (fixtures)
                                      start_statement_live)

PAYBILL, B2C = "174379", "600000"


@pytest.fixture
def sim():
    """A simulator whose shortcodes start empty: every shilling on them is on their statements."""
    with SimulatorServer({"callback_delay": 0.05, "late_delay": 0.8, "opening_balance": 0}) as server:
        yield server


def move(sim, shortcode, movement, amount):
    answer = requests.post(f"{sim.base_url}/_sim/statement/movement",
                           json={"shortcode": shortcode, "movement": movement, "amount": amount}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["TransID"]


def import_statements(live, sim, tmp_path):
    outputs = []
    for code in (PAYBILL, B2C):
        export = tmp_path / f"{code}.csv"
        export.write_text(requests.get(f"{sim.base_url}/_sim/statement.csv", params={"shortcode": code},
                                       timeout=10).text)
        now = datetime.utcnow()
        result = live.cli("reconcile", "statement", "--csv", str(export), "--shortcode", code,
                          "--from", f"{now - timedelta(hours=1):%Y-%m-%d %H:%M:%S}",
                          "--to", f"{now + timedelta(minutes=1):%Y-%m-%d %H:%M:%S}")
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    return outputs


def ask_balances(live, sim):
    assert live.cli("mpesa", "balance").exit_code == 0
    assert sim.drain(10)


def entries(live):
    with live.zemi.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(JournalEntry))


def at_mpesa(sim, code):
    return sim.simulator.statement.balance(code)


def test_after_a_day_each_shortcodes_cash_account_equals_its_balance_at_mpesa(live, sim, tmp_path):
    top_up = move(sim, B2C, "top-up", 20_000)           # the owner funds the B2C float
    first, second = released(live, sim, "0711000301"), released(live, sim, "0711000302")
    settle(live, sim)                                   # both payouts go out, each with M-Pesa's charge
    sweep = move(sim, PAYBILL, "sweep", 1_500)          # collections swept to the bank
    move(sim, PAYBILL, "charge", 10)

    outputs = import_statements(live, sim, tmp_path)
    assert "2 posted" in outputs[0] and "3 posted" in outputs[1]   # sweep + charge; top-up + two charges
    ask_balances(live, sim)

    with live.zemi.db.transaction() as session:
        cash = cash_by_shortcode(session)
        assert cash == {PAYBILL: at_mpesa(sim, PAYBILL), B2C: at_mpesa(sim, B2C)}
        assert cash[PAYBILL] == first.charge + second.charge - 1_500 - 10
        assert cash[B2C] == 20_000 - first.payout - second.payout - 2 * 22
        assert ledger.balance(session, ledger.MPESA_CASH) == sum(cash.values())   # nothing left unplaced
        assert ledger.balance(session, ledger.MPESA_CHARGES) == 2 * 22 + 10
        assert ledger.balance(session, ledger.MPESA_TRANSFERS) == 1_500 - 20_000
    assert one(live, StatementLine, StatementLine.receipt == sweep).status == "posted"
    assert one(live, StatementLine, StatementLine.receipt == top_up).status == "posted"
    report = ledger_ok(live)
    for code in (PAYBILL, B2C):
        assert f"cash {code}: ledger KES {at_mpesa(sim, code):,}, M-Pesa KES {at_mpesa(sim, code):,} at " in report
    assert "DIFFERS" not in report and "not yet attributed" not in report
    assert findings(live) == []

    before = entries(live)                              # the same statements again post nothing
    import_statements(live, sim, tmp_path)
    assert entries(live) == before


def test_a_movement_we_cannot_post_is_a_finding_and_the_comparison_names_the_difference(live, sim, tmp_path):
    move(sim, PAYBILL, "top-up", 5_000)
    reversal = move(sim, PAYBILL, "reversal", 700)      # M-Pesa reversed money without us asking
    import_statements(live, sim, tmp_path)
    ask_balances(live, sim)

    [finding] = findings(live)
    assert finding["kind"] == "statement-movement" and reversal in finding["summary"]
    assert one(live, StatementLine, StatementLine.receipt == reversal).status == "finding"
    report = ledger_ok(live)
    assert f"cash {PAYBILL}: ledger KES 5,000, M-Pesa KES 4,300 at " in report and "DIFFERS by KES -700" in report


def test_cash_from_our_own_facts_is_reported_until_a_statement_pass_places_it(live, sim, tmp_path):
    released(live, sim, "0711000303")                   # money in, posted to mpesa_cash by the callback
    report = ledger_ok(live)
    assert "cash not yet attributed to a shortcode" in report
    import_statements(live, sim, tmp_path)
    assert "not yet attributed" not in ledger_ok(live)


def test_money_a_shortcode_held_before_our_books_began_is_recorded_once_and_then_agrees(live, sim, tmp_path):
    sim.simulator.statement.config["opening_balance"] = 7_000   # what M-Pesa held before Zemi's first day
    for code in (PAYBILL, B2C):
        result = live.cli("mpesa", "opening-balance", "--shortcode", code, "--amount", "7000")
        assert result.exit_code == 0 and f"opening balance of {code}: KES 7,000" in result.output
    again = live.cli("mpesa", "opening-balance", "--shortcode", B2C, "--amount", "9000")
    assert again.exit_code == 1 and "already has an opening balance" in again.output
    released(live, sim, "0711000304")
    settle(live, sim)
    import_statements(live, sim, tmp_path)
    ask_balances(live, sim)
    with live.zemi.db.transaction() as session:
        assert cash_by_shortcode(session) == {PAYBILL: at_mpesa(sim, PAYBILL), B2C: at_mpesa(sim, B2C)}
    assert "DIFFERS" not in ledger_ok(live)


def test_a_payout_m_pesa_said_it_paid_that_its_statement_does_not_show_is_a_finding(live, sim, tmp_path):
    move(sim, B2C, "top-up", 20_000)
    released(live, sim, "0711000305")
    settle(live, sim)
    [payout] = rows(live, Payout)
    assert payout.status == "succeeded"
    requests.post(f"{sim.base_url}/_sim/statement/scenario", json={"receipt": payout.receipt, "scenario": "omit"},
                  timeout=10).raise_for_status()
    outputs = import_statements(live, sim, tmp_path)
    assert "1 missing" in outputs[1]
    [missing] = [f for f in findings(live) if f["kind"] == "statement-payout-missing"]
    assert payout.receipt in missing["summary"] and missing["amount"] == payout.amount


def test_a_payment_returned_by_reversal_is_matched_on_the_statement_and_the_paybills_cash_still_agrees(live, sim,
                                                                                                        tmp_path):
    from tests.e2e.conftest import CALLBACK_TOKEN
    from tests.e2e.test_forged_money_in import paybill_body
    from tests.e2e.test_statement import pushed

    buyer = "0711000306"
    order = pushed(live, sim, buyer)
    settle(live, sim)
    trans_id = sim.pay_bill(buyer, order.charge, order.reference, PAYBILL)   # paid again, payer masked: Reversal
    assert requests.post(f"{live.base_url}/hooks/c2b/confirmation/{CALLBACK_TOKEN}",
                         json=paybill_body(order, trans_id), timeout=10).status_code == 200
    settle(live, sim, rounds=3)
    [reversal] = rows(live, Reversal)
    assert reversal.status == "succeeded"

    import_statements(live, sim, tmp_path)
    ask_balances(live, sim)
    [line] = rows(live, StatementLine, StatementLine.kind == "Reversal")
    assert line.status == "matched" and line.amount == -order.charge
    assert [f["kind"] for f in findings(live)] == []
    with live.zemi.db.transaction() as session:
        assert cash_by_shortcode(session)[PAYBILL] == at_mpesa(sim, PAYBILL) == order.charge
    assert "DIFFERS" not in ledger_ok(live)
