"""Any event in any order: a Hypothesis state machine drives the real use cases on a real database
(SQLite, or PostgreSQL with DATABASE_URL) and checks the ledger's promises after every step.

Profiles: HYPOTHESIS_PROFILE=ci (default, a few minutes at most) or =long (by hand, 10-20 minutes;
pytest-timeout's 300 s limit is lifted for it, as its interrupt would look like a Hypothesis error)."""
import dataclasses
import itertools
import os
import re
import shutil
import tempfile
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, invariant, multiple, rule,
                                 run_state_machine_as_test)
from sqlalchemy import func, select, update

from escrow import ledger
from escrow.db import Database, utcnow
from escrow.errors import EscrowError, LimitExceeded
from escrow.models import (Base, JournalEntry, Order, OrderEvent, PaymentAttempt, PaymentReceived, Payout,
                           Posting)
from escrow.payments import PaymentResult
from escrow.payouts import PayoutResult
from escrow.reports import ledger_findings
from escrow.service import EscrowService
from escrow.states import TERMINAL, State
from escrow.worker import Worker
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender

settings.register_profile("ci", max_examples=int(os.environ.get("STATE_MACHINE_EXAMPLES", 40)),
                          stateful_step_count=60, deadline=None, print_blob=True, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile("long", max_examples=500, stateful_step_count=60, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BUYERS = ("0711000001", "0711000002")
SELLERS = ("0722000001", "0722000002")
STRANGER = "0733000003"
RECEIPTS = itertools.count(1)
DEADLINES = {"pay_by", "dispatch_by", "release_at"}
REACHED: set[str] = set()


def fresh_database(template: str, folder: str) -> Database:
    if template.startswith("postgres"):
        database = Database(template)
        empty_postgres(database)
        return database
    path = os.path.join(folder, f"machine-{next(RECEIPTS)}.db")
    shutil.copy(template, path)
    return Database(f"sqlite:///{path}")


def empty_postgres(database: Database) -> None:
    """Delete every row, children first, in one transaction: a TRUNCATE of every table cost 0.3 s an
    example (new files for each table), this a few milliseconds. The append-only triggers (ledger, audit
    log) are off for this transaction only; ids go on counting, which no rule or invariant reads."""
    tables = [table.name for table in Base.metadata.sorted_tables]
    with database.engine.begin() as connection:
        connection.exec_driver_sql("; ".join(f"ALTER TABLE {name} DISABLE TRIGGER USER" for name in tables))
        connection.exec_driver_sql("; ".join(f"DELETE FROM {name}" for name in reversed(tables)))
        connection.exec_driver_sql("; ".join(f"ALTER TABLE {name} ENABLE TRIGGER USER" for name in tables))


def make_machine(template: str, core):
    folder = tempfile.mkdtemp(prefix="escrow-machine-")
    roomy = dataclasses.replace(core.settings, orders_per_hour=10_000, stk_pushes_per_hour=10_000,
                                daily_total_per_buyer=10**12)
    core = dataclasses.replace(core, settings=roomy)

    class EscrowMachine(RuleBasedStateMachine):
        orders = Bundle("orders")

        def __init__(self):
            super().__init__()
            self.db = fresh_database(template, folder)
            self.gateway, self.sms = FakePaymentGateway(), FakeSmsSender()
            self.service = EscrowService(self.db, core)
            self.worker = Worker(self.db, core, self.gateway, self.sms)
            self.parties: dict[str, tuple[str, str]] = {}
            self.last_success: dict[str, PaymentResult] = {}
            self.terminal: dict[str, str] = {}

        def teardown(self):
            with self.db.transaction() as session:   # every state an order passed through, for the test's end
                REACHED.update(session.scalars(select(OrderEvent.to_state).distinct()))
            self.db.dispose()

        def attempt(self, action):
            """Run a use case; the core refusing (an event the order cannot take now) is fine."""
            try:
                return action()
            except EscrowError:
                return None

        # --- creating orders ------------------------------------------------------------
        @rule(target=orders, buyer=st.sampled_from(BUYERS), seller=st.sampled_from(SELLERS),
              price=st.integers(50, 250_000), by_seller=st.booleans())
        def create(self, buyer, seller, price, by_seller):
            """A limit may refuse the order (the buyer's daily total): then there is none to add."""
            try:
                if by_seller:
                    view = self.service.request_payment(seller=seller, buyer=buyer, price=price, item="Goods")
                else:
                    view = self.service.create_order(buyer=buyer, seller=seller, price=price, item="Goods")
            except LimitExceeded:
                return multiple()
            self.parties[view.reference] = (buyer, seller)
            return view.reference

        # --- the parties ----------------------------------------------------------------
        @rule(ref=orders, accept=st.booleans())
        def answer_request(self, ref, accept):
            buyer, _ = self.parties[ref]
            use = self.service.accept_request if accept else self.service.decline_request
            self.attempt(lambda: use(buyer, ref))

        @rule(ref=orders)
        def pay_again(self, ref):
            self.attempt(lambda: self.service.pay_again(self.parties[ref][0], ref))

        @rule(ref=orders, who=st.sampled_from(["buyer", "seller"]))
        def cancel(self, ref, who):
            phone = self.parties[ref][0 if who == "buyer" else 1]
            self.attempt(lambda: self.service.cancel_order(phone, ref))

        @rule(ref=orders)
        def dispatch(self, ref):
            self.attempt(lambda: self.service.mark_dispatched(self.parties[ref][1], ref))

        @rule(ref=orders, reason=st.sampled_from(["not_received", "damaged"]))
        def dispute(self, ref, reason):
            self.attempt(lambda: self.service.open_dispute(self.parties[ref][0], ref, reason))

        @rule(ref=orders)
        def new_code(self, ref):
            self.attempt(lambda: self.service.reissue_code(self.parties[ref][0], ref))

        @rule(ref=orders, right=st.booleans(), who=st.sampled_from(["buyer", "seller", "stranger"]))
        def enter_code(self, ref, right, who):
            buyer, seller = self.parties[ref]
            caller = {"buyer": buyer, "seller": seller, "stranger": STRANGER}[who]
            self.worker.run_once()  # the code SMS has gone out by now
            code = self.code_for(ref) if right else "000000"
            match = self.attempt(lambda: self.service.check_delivery_code(caller=caller, code=code or "000000"))
            if match is not None:
                assert who != "stranger", "a stranger matched someone's code"
                self.attempt(lambda: self.service.confirm_delivery(caller=caller, reference=match.order.reference,
                                                                   token=match.token))

        def code_for(self, ref):
            texts = [t for _, t in self.sms.sent if ref in t and re.search(r"code: \d{6}", t, re.I)]
            return re.search(r"(\d{6})", texts[-1].split(ref, 1)[1]).group(1) if texts else None

        # --- operators --------------------------------------------------------------------
        @rule(ref=orders, outcome=st.sampled_from(["release", "refund", "split"]), to_seller=st.integers(1, 300_000))
        def resolve(self, ref, outcome, to_seller):
            self.attempt(lambda: self.service.resolve_dispute(ref, outcome=outcome, to_seller=to_seller, note="t"))

        @rule(ref=orders)
        def return_suspense(self, ref):
            self.attempt(lambda: self.service.refund_review(ref, note="t"))

        # --- M-Pesa -----------------------------------------------------------------------
        @rule(ref=orders, kind=st.sampled_from(["ok", "ok", "duplicate", "short", "failed", "unknown"]))
        def stk_callback(self, ref, kind):
            self.worker.run_once()  # pushes due by now have been sent
            with self.db.transaction() as session:
                checkout = session.scalar(select(PaymentAttempt.checkout_request_id).join(Order).where(
                    Order.reference == ref, PaymentAttempt.checkout_request_id.is_not(None))
                    .order_by(PaymentAttempt.id.desc()))
                charge = session.scalar(select(Order.charge).where(Order.reference == ref))
            if kind == "duplicate" and ref in self.last_success:
                self.service.record_payment_result(self.last_success[ref])
                return
            if kind == "unknown":
                checkout = f"ws_CO_unknown{next(RECEIPTS)}"
            if checkout is None:
                return
            result = PaymentResult(checkout, kind != "failed", "0" if kind != "failed" else "1032", "t",
                                   charge - 1 if kind == "short" else charge, f"RCP{next(RECEIPTS):07d}")
            self.service.record_payment_result(result)
            if kind == "ok":
                self.last_success[ref] = result

        @rule(kind=st.sampled_from(["success", "success", "failed", "timeout", "duplicate"]), pick=st.integers(0, 5))
        def payout_result(self, kind, pick):
            self.worker.run_once()  # transfers due by now have been sent
            self.answer_transfer(kind, pick)

        def answer_transfer(self, kind, pick):
            """M-Pesa's answer for one transfer sent (or already answered: a repeat)."""
            with self.db.transaction() as session:
                live = session.scalars(select(Payout).where(Payout.status.in_(("sent", "unknown", "succeeded")))
                                       .order_by(Payout.id)).all()
            if not live:
                return
            payout = live[pick % len(live)]
            result = PayoutResult(payout.originator_conversation_id, payout.conversation_id, kind != "failed",
                                  "2001" if kind == "failed" else "0", "t",
                                  payout.receipt or f"OUT{payout.id:07d}", payout.amount)
            if kind == "timeout":
                self.service.record_payout_timeout(result)
            else:
                self.service.record_payout_result(result)

        # --- the common path, so long journeys are likely as well as odd ones -----------------
        @rule(ref=orders)
        def buyer_pays(self, ref):
            self.attempt(lambda: self.service.accept_request(self.parties[ref][0], ref))
            self.stk_callback(ref, "ok")

        @rule(ref=orders)
        def buyer_pays_then_disputes(self, ref):
            self.buyer_pays(ref)
            self.dispute(ref, "damaged")

        @rule(ref=orders)
        def whole_sale(self, ref):
            """Paid, delivered, paid out: the journey most orders take."""
            self.buyer_pays(ref)
            self.buyer_confirms(ref)
            self.mpesa_settles_transfers()

        @rule(ref=orders)
        def whole_refund(self, ref):
            """Paid, cancelled by the seller, refunded."""
            self.buyer_pays(ref)
            self.seller_cancels(ref)
            self.mpesa_settles_transfers()

        @rule(ref=orders)
        def left_unpaid(self, ref):
            self.deadline_passes(ref, "pay_by")

        @rule(ref=orders)
        def buyer_confirms(self, ref):
            self.enter_code(ref, True, "buyer")

        @rule(ref=orders)
        def seller_cancels(self, ref):
            self.cancel(ref, "seller")

        @rule()
        def mpesa_settles_transfers(self):
            """Success for the first three transfers in flight, after one worker pass (a pass between two
            answers sends nothing new: an answer queues SMS, not transfers)."""
            self.worker.run_once()
            for pick in range(3):
                self.answer_transfer("success", pick)

        @rule()
        def worker_tick(self):
            self.worker.run_once()

        @rule(ref=orders, column=st.sampled_from(sorted(DEADLINES)))
        def deadline_passes(self, ref, column):
            with self.db.transaction() as session:
                past = session.scalar(select(utcnow())) - timedelta(seconds=1)
                session.execute(update(Order).where(Order.reference == ref, getattr(Order, column).is_not(None))
                                .values(**{column: past}))
            self.worker.run_once()

        # --- what must always hold --------------------------------------------------------
        @invariant()
        def ledger_holds(self):
            with self.db.transaction() as session:
                violations, _ = ledger_findings(session)
            assert violations == []

        @invariant()
        def at_most_one_payout_and_one_refund_per_order(self):
            with self.db.transaction() as session:
                doubled = session.execute(select(Payout.order_id, Payout.purpose).where(
                    Payout.status == "succeeded", Payout.purpose.in_(("payout", "refund")))
                    .group_by(Payout.order_id, Payout.purpose).having(func.count() > 1)).all()
            assert doubled == []

        @invariant()
        def nothing_is_funded_without_a_verified_receipt(self):
            with self.db.transaction() as session:
                funded = set(session.scalars(select(JournalEntry.order_id).where(JournalEntry.kind == "funding")))
                received = set(session.scalars(select(PaymentReceived.order_id)
                                               .where(PaymentReceived.outcome == "funded")))
            assert funded == received

        @invariant()
        def cash_in_the_ledger_is_exactly_the_verified_receipts(self):
            with self.db.transaction() as session:
                booked = dict(session.execute(select(Posting.order_id, func.sum(Posting.amount)).where(
                    Posting.account == ledger.MPESA_CASH, Posting.amount > 0).group_by(Posting.order_id)).all())
                received = dict(session.execute(select(PaymentReceived.order_id, func.sum(PaymentReceived.amount))
                                                .group_by(PaymentReceived.order_id)).all())
            assert booked == received

        @invariant()
        def money_out_never_exceeds_money_in(self):
            with self.db.transaction() as session:
                paid_in = dict(session.execute(select(PaymentReceived.order_id, func.sum(PaymentReceived.amount))
                                               .where(PaymentReceived.order_id.is_not(None))
                                               .group_by(PaymentReceived.order_id)).all())
                paid_out = session.execute(select(Payout.order_id, func.sum(Payout.amount)).where(
                    Payout.order_id.is_not(None), Payout.status == "succeeded").group_by(Payout.order_id)).all()
            overpaid = [(order_id, out, paid_in.get(order_id, 0)) for order_id, out in paid_out
                        if out > paid_in.get(order_id, 0)]
            assert overpaid == [], "(order id, paid out, paid in)"

        @invariant()
        def terminal_states_absorb(self):
            with self.db.transaction() as session:
                states = dict(session.execute(select(Order.reference, Order.state)).all())
            for ref, state in self.terminal.items():
                assert states[ref] == state
            self.terminal.update({ref: state for ref, state in states.items() if State(state) in TERMINAL})

    return EscrowMachine


@pytest.mark.timeout(0 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 300)
def test_any_sequence_of_events_keeps_the_ledger_whole(migrated_template, core):
    run_state_machine_as_test(make_machine(migrated_template, core), settings=PROFILE)
    print("states reached:", sorted(REACHED))
    must_reach = {"funded", "released", "paid_out", "refunding", "refunded", "disputed", "expired"}
    assert must_reach <= REACHED, f"the machine no longer explores {sorted(must_reach - REACHED)}"
