"""The whole system under one seed: the real app (routes, use cases, worker, reconciler) and the World.

`Simulation(seed, orders, ...)` builds the app twice over one database (a second copy whose Redis
is a closed port: the USSD and callbacks during a Redis outage), runs `steps` seeded events, then
drains (time passes, M-Pesa answers every query, operators decide) and returns a `Report`.
Every choice comes from `random.Random(seed)`; the seed reproduces the run.
"""
import dataclasses
import os
import random
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

import app as composition
from escrow.db import utcnow
from escrow.errors import EscrowError
from escrow.models import InboundCallback, Order, OutboxItem, PaymentAttempt, Payout, SmsMessage
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from tests.simulation.world import World, WorkerKilled

TOKEN = "sim-callback-token"
USSD_TOKEN = "sim-ussd-token"
CODE_KINDS = ("code_to_buyer", "new_code_to_buyer", "code_reissued")
INTENTS = ("confirm", "confirm", "confirm", "dispatch_confirm", "dispatch_wait", "seller_cancel", "dispute",
           "never_dispatched", "buyer_cancel")


class InjectedOutage(Exception):
    """Marks the OperationalError our statement hook raised (its `orig`)."""


@dataclass
class Report:
    seed: int
    orders: int = 0
    steps: int = 0
    counts: dict = field(default_factory=dict)
    server_errors: list = field(default_factory=list)   # 5xx outside an injected fault

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]   # closed again when we return: nothing listens there


class DatabaseOutage:
    """Raises OperationalError at the n-th statement after `arm(n)`, as a database that went away."""

    def __init__(self, engine):
        self.countdown = None
        self.fired = 0
        event.listen(engine, "before_cursor_execute", self._before)

    def arm(self, n: int) -> None:
        self.countdown = n

    def disarm(self) -> bool:
        fired_before, self.countdown = self.fired, None
        return fired_before

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.countdown is None:
            return
        self.countdown -= 1
        if self.countdown <= 0:
            self.countdown = None
            self.fired += 1
            raise OperationalError(statement, None, InjectedOutage("server closed the connection (injected)"))


def relax_durability(engine) -> None:
    """PostgreSQL without waiting for the WAL flush on each commit (this session only: the server's
    settings are untouched). Thousands of commits per run, and a crash of the test's own server is
    not what this suite simulates."""
    if engine.dialect.name != "postgresql":
        return
    event.listen(engine, "connect", lambda connection, _record: _sql(connection, "SET synchronous_commit TO OFF",
                                                                     commit=True))
    engine.dispose()


def _sql(connection, statement: str, commit: bool = False) -> None:
    """`commit`: leave a new connection outside any transaction, as the pool hands it out (the callback
    INSERT and lone reads switch it to autocommit, which psycopg refuses mid-transaction)."""
    cursor = connection.cursor()
    cursor.execute(statement)
    cursor.close()
    if commit:
        connection.commit()


class Simulation:
    def __init__(self, seed: int, *, orders: int, database_url: str, redis_url: str, instance_path: str,
                 faults: bool = True, forgeries: bool = True):
        self.seed, self.n_orders, self.faults, self.forgeries = seed, orders, faults, forgeries
        self.rng = random.Random(seed)
        self.world = World(random.Random(self.rng.random()), TOKEN, faults=faults)
        base = {"INSTANCE_PATH": instance_path, "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET_KEY,
                "DATA_KEY": TEST_DATA_KEY, "CALLBACK_TOKEN": TOKEN, "USSD_PATH_TOKEN": USSD_TOKEN,
                "STK_DELAY_SECONDS": "0", "B2C_QUERY_AFTER_SECONDS": "0", "ORDERS_PER_HOUR": "100000",
                "STK_PUSHES_PER_HOUR": "100000", "DAILY_TOTAL_PER_BUYER": "100000000",
                "USSD_RATE_LIMIT_PER_MINUTE": "100000", "SMS_BACKEND": "console",
                # as in live mode: every payment in is confirmed with M-Pesa before it moves anything
                "MPESA_CONFIRM_WITH_QUERY": "always", "RECONCILE_EVERY_SECONDS": "100000000", "STK_QUERY_AFTER_SECONDS": "0",
                "B2C_RETRY_AFTER_SECONDS": "0", "STATEMENT_RECONCILE_EVERY_SECONDS": "0",
                "CALLBACK_JOURNAL_DIR": f"{instance_path}/journal"}
        self.app = self._build({**base, "REDIS_URL": redis_url})
        self.app.extensions["zemi"].redis.flushdb()
        self.dark_app = self._build({**base, "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/6"})
        zemi = self.app.extensions["zemi"]
        self.db, self.core, self.service = zemi.db, zemi.core, zemi.service
        self.shortcode = zemi.gateway.c2b_shortcode
        self.worker = zemi.worker()                 # the app's own worker: outbox, checks, reconciler, journal
        self.reconciler = zemi.reconciler
        self.started = datetime.utcnow() - timedelta(minutes=5)
        for app in (self.app, self.dark_app):
            relax_durability(app.extensions["zemi"].db.engine)
        self.outage = DatabaseOutage(self.db.engine)
        self.dark_outage = DatabaseOutage(self.dark_app.extensions["zemi"].db.engine)
        self.client, self.dark_client = self.app.test_client(), self.dark_app.test_client()
        self.report = Report(seed)
        self.orders: dict[str, dict] = {}      # reference -> buyer, seller, intent
        self.redis_down = False
        self.phones = [f"07{n:08d}" for n in range(11000001, 11000001 + 40)]
        self.sessions = 0

    def _build(self, config: dict):
        """create_app with the World as its PaymentGateway (everything else is the app's own wiring)."""
        original = composition.build_gateway
        composition.build_gateway = lambda env, redis_client: self.world
        try:
            return composition.create_app(config)
        finally:
            composition.build_gateway = original

    def close(self) -> None:
        for app in (self.app, self.dark_app):
            app.extensions["zemi"].db.dispose()

    # --- the run ----------------------------------------------------------------------------------
    def run(self) -> Report:
        events = [(self.create_order, 14), (self.act_on_an_order, 30), (self.worker_pass, 18),
                  (self.deliver_mail, 18), (self.reconcile, 8), (self.time_passes, 4), (self.forge, 3),
                  (self.toggle_redis, 1)]
        actions, weights = zip(*events)
        while len(self.orders) < self.n_orders or self.report.steps < self.n_orders * 8:
            choice = self.rng.choices(actions, weights)[0]
            if choice == self.create_order and len(self.orders) >= self.n_orders:
                choice = self.act_on_an_order
            if choice != self.forge or self.forgeries:
                choice()
            self.report.steps += 1
            self.world.tick += 1
        self.redis_down = False
        self.drain()
        self.report.orders = len(self.orders)
        with self.db.transaction() as session:
            for state, n in session.execute(select(Order.state, func.count()).group_by(Order.state)).all():
                self.report.add(f"final state: {state}", n)
        self.report.add("world: KES taken from buyers", sum(t.amount for t in self.world.takes.values()))
        self.report.add("world: KES paid out by B2C", sum(t.amount for t in self.world.paid_out()))
        self.report.add("world: KES reversed to payers", sum(t.amount for t in self.world.reversed.values()))
        for what, n in self.world.tally.counts.items():
            self.report.add(f"world: {what}", n)
        return self.report

    # --- people -------------------------------------------------------------------------------------
    def create_order(self) -> None:
        buyer, seller = self.rng.sample(self.phones, 2)
        price = self.rng.choice((50, 99, 500, 1500, 2500, 12_000, 70_000, 249_999))
        how = self.rng.choices(("ussd", "service", "request"), (40, 35, 25))[0]
        try:
            if how == "ussd":
                reference = self.ussd_order(buyer, seller, price)
            elif how == "service":
                reference = self.service.create_order(buyer=buyer, seller=seller, price=price, item="Sim goods").reference
            else:
                reference = self.service.request_payment(seller=seller, buyer=buyer, price=price,
                                                          item="Sim request").reference
        except EscrowError:
            self.report.add("orders refused by the core")
            return
        if reference is None:
            return
        self.orders[reference] = {"buyer": buyer, "seller": seller, "intent": self.rng.choice(INTENTS),
                                  "price": price}
        self.report.add(f"orders created by {how}")

    def ussd_order(self, buyer: str, seller: str, price: int) -> str | None:
        replies = self.dial(buyer, "1", seller, str(price), "Sim item", "1")
        if not replies or not replies[-1].startswith("END") or "created" not in replies[-1]:
            self.report.add("ussd orders not completed (outage)")
            return None
        return re.search(r"Order (\w+) created", replies[-1]).group(1)

    def dial(self, phone: str, *inputs: str) -> list[str]:
        """One USSD session through the routes; during a Redis outage through the dark app."""
        self.sessions += 1
        client = self.dark_client if self.redis_down else self.client
        session_id, typed, replies = f"ATUid_sim{self.seed}_{self.sessions}", [], []
        for answer in ("",) + inputs:
            if answer:
                typed.append(answer)
            response = client.post(f"/ussd/{USSD_TOKEN}", data={
                "sessionId": session_id, "serviceCode": "*384*1234#", "phoneNumber": phone,
                "networkCode": "63902", "text": "*".join(typed)})
            self._check_status(response, f"ussd {phone} {typed}")
            text = response.get_data(as_text=True)
            replies.append(text)
            if not text.startswith("CON"):
                break
        return replies

    def act_on_an_order(self) -> None:
        if not self.orders:
            return
        reference = self.rng.choice(list(self.orders))
        order = self.orders[reference]
        state = self.state_of(reference)
        buyer, seller, intent = order["buyer"], order["seller"], order["intent"]
        self.report.add(f"acted on {state}")
        try:
            if state == "requested":
                if intent == "buyer_cancel":
                    self.service.decline_request(buyer, reference)
                else:
                    self.service.accept_request(buyer, reference)
            elif state == "awaiting_payment":
                self.buyer_waiting(reference, order)
            elif state in ("funded", "dispatched"):
                self.after_funding(reference, order, state)
            elif state == "disputed":
                self.operator_decides(reference)
            elif state == "needs_review":
                self.service.refund_review(reference, note="simulated operator")
        except EscrowError as error:
            self.report.add(f"refused: {type(error).__name__}")

    def buyer_waiting(self, reference: str, order: dict) -> None:
        roll = self.rng.random()
        if order["intent"] == "buyer_cancel" and roll < 0.5:
            self.service.cancel_order(order["buyer"], reference)
        elif roll < 0.12:
            self.service.pay_again(order["buyer"], reference)
        elif roll < 0.22:
            charge = self.charge_of(reference)
            self.world.pay_by_paybill(reference, charge, self.shortcode)

    def after_funding(self, reference: str, order: dict, state: str) -> None:
        intent, buyer, seller = order["intent"], order["buyer"], order["seller"]
        if intent == "seller_cancel":
            self.service.cancel_order(seller, reference)
        elif intent == "dispute":
            self.service.open_dispute(buyer, reference, self.rng.choice(("not_received", "damaged")))
        elif intent in ("dispatch_confirm", "dispatch_wait") and state == "funded":
            self.service.mark_dispatched(seller, reference)
        elif intent == "dispatch_wait":
            self.force_deadline(reference, "release_at")
        elif intent == "never_dispatched":
            self.force_deadline(reference, "dispatch_by")
        else:
            if state == "funded" and hasattr(self.service, "accept_order") and self.rng.random() < 0.5:
                self.service.accept_order(seller, reference)   # the seller accepts from the held SMS
            self.enter_code(reference, order)

    def enter_code(self, reference: str, order: dict) -> None:
        code = self.code_for(reference)
        if code is None:
            return
        if self.rng.random() < 0.1:   # a stranger who learnt the code tries it first
            stranger = self.rng.choice([p for p in self.phones if p not in (order["buyer"], order["seller"])])
            before = self.state_of(reference)
            self.dial(stranger, "4", code, "1")
            if self.state_of(reference) != before:
                self.report.server_errors.append(f"a stranger moved order {reference} with its code")
            self.report.add("strangers tried a code")
        who = order["seller"] if self.rng.random() < 0.7 else order["buyer"]
        replies = self.dial(who, "4", code, "1")
        self.report.add("codes entered by USSD" if replies and "Released" in replies[-1] else "code entries not done")

    def operator_decides(self, reference: str) -> None:
        outcome = self.rng.choice(("release", "refund", "split"))
        to_seller = self.rng.randint(1, max(1, self.orders[reference]["price"] - 1)) if outcome == "split" else None
        self.service.resolve_dispute(reference, outcome=outcome, to_seller=to_seller, note="simulated operator")

    # --- M-Pesa, the worker, the reconciler, the clock -------------------------------------------------
    def worker_pass(self) -> None:
        roll = self.rng.random() if self.faults else 1.0
        if roll < 0.08:
            self.world.kill_next = self.rng.choice(("stk", "b2c"))
        elif roll < 0.14:
            self.outage.arm(self.rng.randint(1, 40))
        try:
            self.worker.run_once()
        except WorkerKilled:
            self.report.add("worker killed")
        except OperationalError:
            self.report.add("worker stopped by a database outage")
        finally:
            self.world.kill_next = None
            self.outage.disarm()

    def reconcile(self) -> int:
        try:
            return self.reconciler.run().total
        except WorkerKilled:
            self.report.add("reconciler killed")
            return 1

    def statement(self) -> int:
        """The statement pass over everything since the run began (issue 12)."""
        with self.db.transaction() as session:
            end = session.scalar(select(utcnow())) + timedelta(minutes=1)
        summaries = self.reconciler.statement.run(min(self.started, end - timedelta(hours=3)), end)
        self.report.add("statement passes")
        return sum(n for s in summaries for what, n in s.counts.items() if what not in ("lines", "matched", "known"))

    def deliver_mail(self, everything: bool = False) -> int:
        delivered = 0
        for mail in self.world.due_mail(everything):
            outage = self.faults and not everything and self.rng.random() < 0.05
            if outage:
                (self.dark_outage if self.redis_down else self.outage).arm(self.rng.randint(1, 6))
            client = self.dark_client if self.redis_down else self.client
            response = client.post(mail.path, data=mail.body, content_type="application/json")
            (self.dark_outage if self.redis_down else self.outage).disarm()
            delivered += 1
            self.report.add(f"mail delivered: {mail.what}")
            if response.status_code >= 500 and outage:
                self.report.add("callbacks refused during a database outage")
                if mail.resend_on_error or self.rng.random() < 0.5:
                    mail.due = self.world.tick + 1
                    self.world.mailbox.append(mail)
                continue
            self._check_status(response, f"{mail.what} {mail.path}")
        return delivered

    def time_passes(self) -> None:
        """The clock jumps: outbox back-offs and leases lapse, and one order's deadline passes."""
        with self.db.transaction() as session:
            session.execute(update(OutboxItem).where(OutboxItem.status == "pending")
                            .values(due_at=utcnow(), leased_until=None))
            session.execute(update(InboundCallback).where(InboundCallback.status == "received")
                            .values(leased_until=None))
        if self.orders and self.rng.random() < 0.5:
            reference = self.rng.choice(list(self.orders))
            self.force_deadline(reference, self.rng.choice(("pay_by", "dispatch_by", "release_at")))

    def force_deadline(self, reference: str, column: str) -> None:
        with self.db.transaction() as session:
            now = session.scalar(select(utcnow()))
            session.execute(update(Order).where(Order.reference == reference, getattr(Order, column).is_not(None))
                            .values(**{column: now - timedelta(seconds=1)}))
        self.report.add(f"deadline {column} forced")

    def toggle_redis(self) -> None:
        self.redis_down = self.faults and not self.redis_down
        self.report.add("redis outages" if self.redis_down else "redis back")

    def forge(self) -> None:
        """A forger holding the callback token posts a well-formed success M-Pesa never sent."""
        kinds = ("stk-unpaid", "stk-wrong-amount", "stk-no-such-push", "c2b-funded-order", "c2b-unpaid-order")
        kind = self.rng.choice(kinds)
        if os.environ.get("SIM_FORGE_B2C") == "1" and self.rng.random() < 0.5:
            kind = "b2c-success"
        if kind == "b2c-success":  # opt-in: a gap no one covers yet (see tests/fuzz/test_callback_fuzz.py)
            with self.db.transaction() as session:
                live = session.execute(select(Payout.originator_conversation_id, Payout.amount)
                                       .where(Payout.status.in_(("queued", "sent", "unknown")))).all()
            if live:
                self.world.forge_payout_success(*self.rng.choice(live))
                self.report.add("forged b2c-success")
            return
        unpaid = [p for p in self.world.pushes.values() if p.fate != "paid"]
        if kind in ("stk-unpaid", "stk-wrong-amount") and unpaid:
            push = self.rng.choice(unpaid)
            amount = push.amount + (self.rng.choice((-1, 1, 1000)) if kind == "stk-wrong-amount" else 0)
            self.world.forge_stk_success(push.checkout_id, max(1, amount))
        elif kind == "stk-no-such-push":
            self.world.forge_stk_success(f"ws_CO_FORGED{self.rng.randint(1, 10**9)}", 1500)
        elif self.orders:
            reference = self.rng.choice(list(self.orders))
            state = self.state_of(reference)
            if (kind == "c2b-funded-order") != (state in ("funded", "dispatched", "paid_out", "released")):
                return
            self.world.forge_paybill(reference, self.charge_of(reference), self.shortcode)
        self.report.add(f"forged {kind}")

    # --- the end: time passes until nothing moves --------------------------------------------------------
    def drain(self, rounds: int | None = None) -> None:
        """Time passes, M-Pesa answers, operators decide, until three rounds change nothing. The
        reconciler works in batches, so a big run gets more rounds."""
        rounds = rounds or max(40, self.n_orders // 10)
        quiet = 0
        for number in range(rounds):
            self.world.tick += 10
            if number == rounds // 3:   # a day passes: orphans are given up, as findings
                self.reconciler.settings = dataclasses.replace(self.reconciler.settings, orphan_retry_hours=0)
            moved = self.deliver_mail(everything=True)
            self.time_passes_for_everyone()
            moved += self.worker.run_once()
            moved += self.reconcile()
            if number % 3 == 2:
                moved += self.statement()
            moved += self.operators_finish()
            signature = self.signature()
            quiet = quiet + 1 if (moved == 0 or signature == getattr(self, "_last", None)) and \
                not self.world.mailbox else 0
            self._last = signature
            if quiet >= 3:
                self.report.add("drain rounds", number + 1)
                return
        self.report.add("drain rounds", rounds)

    def time_passes_for_everyone(self) -> None:
        with self.db.transaction() as session:
            now = session.scalar(select(utcnow()))
            session.execute(update(OutboxItem).where(OutboxItem.status == "pending")
                            .values(due_at=now - timedelta(seconds=1), leased_until=None))
            for column in ("pay_by", "dispatch_by", "release_at"):
                session.execute(update(Order).where(getattr(Order, column).is_not(None))
                                .values(**{column: now - timedelta(seconds=1)}))
            session.execute(update(PaymentAttempt).where(PaymentAttempt.status.in_(("sending", "sent", "unknown")))
                            .values(updated_at=now - timedelta(hours=1), created_at=now - timedelta(hours=2)))
            session.execute(update(InboundCallback).where(InboundCallback.status == "received")
                            .values(received_at=now - timedelta(minutes=5), leased_until=None))  # leases lapse too
            session.execute(update(Order).where(Order.state == "checking_payment")
                            .values(updated_at=now - timedelta(hours=1)))
            session.execute(update(Payout).where(Payout.status.in_(("sent", "unknown", "failed")))
                            .values(updated_at=now - timedelta(hours=1)))

    def operators_finish(self) -> int:
        moved = 0
        with self.db.transaction() as session:
            waiting = session.execute(select(Order.reference, Order.state)
                                      .where(Order.state.in_(("disputed", "needs_review")))).all()
        for reference, state in waiting:
            try:
                if state == "disputed":
                    self.operator_decides(reference)
                else:
                    self.service.refund_review(reference, note="simulated operator")
                moved += 1
            except EscrowError:
                pass
        return moved

    def signature(self) -> tuple:
        with self.db.transaction() as session:
            return (tuple(session.execute(select(Order.state)).scalars()),
                    tuple(session.execute(select(Payout.status)).scalars()),
                    tuple(session.execute(select(PaymentAttempt.status)).scalars()))

    def ledger_check(self) -> list[str]:
        """`flask ledger check` itself, as an operator runs it: exit 0, else each line it printed."""
        result = self.app.test_cli_runner().invoke(args=["ledger", "check"])
        warnings = [line for line in result.output.splitlines() if line.startswith("WARNING")]
        self.report.add("ledger check warnings", len(warnings))
        if result.exit_code == 0:
            return []
        return [f"flask ledger check exited {result.exit_code}: {line}" for line in result.output.splitlines()
                if "VIOLATION" in line or "violation" in line] or [f"flask ledger check: {result.output[-500:]}"]

    # --- reading the books ----------------------------------------------------------------------------
    def state_of(self, reference: str) -> str:
        with self.db.transaction() as session:
            return session.scalar(select(Order.state).where(Order.reference == reference))

    def charge_of(self, reference: str) -> int:
        with self.db.transaction() as session:
            return session.scalar(select(Order.charge).where(Order.reference == reference))

    def code_for(self, reference: str) -> str | None:
        """The newest delivery code the buyer's phone received for this order."""
        with self.db.transaction() as session:
            rows = session.execute(select(SmsMessage.body_sealed).join(Order, Order.id == SmsMessage.order_id)
                                   .where(Order.reference == reference, SmsMessage.kind.in_(CODE_KINDS))
                                   .order_by(SmsMessage.id.desc())).scalars().all()
        for sealed in rows:
            found = re.findall(r"\b(\d{6})\b", self.core.vault.unseal(sealed).replace(reference, ""))
            if found:
                return found[-1]
        return None

    def _check_status(self, response, what: str) -> None:
        if response.status_code >= 500:
            self.report.server_errors.append(f"{response.status_code} for {what}")
