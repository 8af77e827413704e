"""Live mode with no confirmation setting at all: the simulator is given real-looking credentials
(not its public `sim-key`), so the app treats it as live Daraja and confirms every payment in by
default. Forged paybill confirmations then move no money, and an STK success is only funded once
the STK Push Query agrees."""
import pytest

from escrow.models import InboundCallback, JournalEntry, PaymentReceived
from mpesa.simulator import SimulatorServer
from tests.e2e.test_forged_money_in import CONFIRM_PATH, funded_order, money_out_requests, paybill_body, state
from tests.e2e.mpesa_live import count, findings, ledger_ok, post, rows, settle, start_live  # noqa: F401

LIVE_KEYS = {"consumer_key": "live-key", "consumer_secret": "live-secret"}
LIVE_SETTINGS = {"MPESA_CONSUMER_KEY": "live-key", "MPESA_CONSUMER_SECRET": "live-secret",
                 "USSD_PATH_TOKEN": "e2e-ussd-token"}


@pytest.fixture
def sim():
    with SimulatorServer({"callback_delay": 0.05, "late_delay": 0.8, **LIVE_KEYS}) as server:
        yield server


def test_live_daraja_holds_every_payment_in_by_default_and_forged_confirmations_pay_nothing(start_live, sim):
    live = start_live(**LIVE_SETTINGS)
    buyer = "0711000501"
    order = funded_order(live, sim, buyer)      # its STK success was held, then confirmed by the query
    [stk] = rows(live, InboundCallback, InboundCallback.source == "stk")
    assert stk.note == "confirmed by STK query"
    entries = count(live, JournalEntry)
    for n in range(16):
        post(live, CONFIRM_PATH, paybill_body(order, f"LIVEFORGED{n:02d}"))
    settle(live, sim, rounds=3)
    assert money_out_requests(sim) == [] and count(live, JournalEntry) == entries
    assert count(live, PaymentReceived) == 1 and state(live, order.reference) == "funded"
    assert [f["kind"] for f in findings(live)] == ["paybill-contradicted"] * 16
    ledger_ok(live)
