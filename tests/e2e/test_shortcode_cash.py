"""Each shortcode's cash account in the ledger equals its balance at M-Pesa (issue 12): a day of
payments, payouts with M-Pesa's charges, a top-up of the B2C float and a sweep to the bank, through
the real app, the simulator over HTTP, `flask reconcile statement --csv` (the org portal's export:
Pull Transactions carries customer payments only) and `flask mpesa balance`."""
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from escrow import ledger
from escrow.models import JournalEntry, StatementLine
from escrow.shortcode_cash import cash_by_shortcode
from mpesa.simulator import SimulatorServer
from tests.e2e.test_float import released
from tests.e2e.test_statement import findings, ledger_ok, live, one, settle, start_live  # noqa: F401  (fixtures)

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
