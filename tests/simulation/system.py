"""The whole system under one seed: the real app (routes, use cases, worker, reconciler) and the World.

`Simulation(seed, orders, ...)` builds the app twice over one database (a second copy whose Redis
is a closed port: the USSD and callbacks during a Redis outage), runs `steps` seeded events, then
drains (time passes, M-Pesa answers every query, operators decide) and returns a `Report`.
Every choice comes from `random.Random(seed)`; the seed reproduces the run. What the people do is in
people.py, the faults injected beside the World's in faults.py.
"""
import dataclasses
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

import app as composition
from escrow.db import utcnow
from escrow.models import InboundCallback, Order, OutboxItem, PaymentAttempt, Payout, SmsMessage
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from tests.simulation.faults import DatabaseOutage, closed_port, relax_durability
from tests.simulation.people import USSD_TOKEN, People
from tests.simulation.world import World, WorkerKilled

TOKEN = "sim-callback-token"
CODE_KINDS = ("code_to_buyer", "new_code_to_buyer", "code_reissued")


@dataclass
class Report:
    seed: int
    orders: int = 0
    steps: int = 0
    counts: dict = field(default_factory=dict)
    server_errors: list = field(default_factory=list)   # 5xx outside an injected fault

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


class Simulation(People):
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
