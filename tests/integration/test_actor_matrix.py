"""Who may do what to an order: every USSD action x every order state x buyer, seller and a stranger.

The table below is the product's rule, written out by hand (not read from the code). Each cell runs
through the service layer on a real database: an allowed action succeeds; a refused one raises the
core's error and changes nothing (state, outbox, ledger, transfers). The menu an order shows each
party offers exactly the actions the table allows, and through USSD a stranger neither sees the
order nor releases it with its code.
"""
import dataclasses
import itertools
import re

import pytest
from sqlalchemy import func, select

from escrow.errors import EscrowError
from escrow.models import Order, OutboxItem, Payout, Posting, SmsMessage
from escrow.payments import PaymentResult
from escrow.service import EscrowService
from escrow.worker import Worker
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender

B, S = "buyer", "seller"
# funded_new: paid, the seller has not acted on it yet (money goes only to a seller who did);
# funded: paid and accepted by the seller.
STATES = ("requested", "awaiting_payment", "funded_new", "funded", "dispatched", "disputed", "released",
          "refunding", "cancelled")
ACTIONS = ("view", "accept", "decline", "pay_now", "cancel", "accept_order", "mark_dispatched", "report_problem",
           "new_code", "confirm_delivery")
# (state, action) -> the parties who may; everything absent is refused to everyone; strangers never.
ALLOWED = {
    **{(state, "view"): {B, S} for state in STATES},
    ("requested", "accept"): {B}, ("requested", "decline"): {B},
    ("awaiting_payment", "pay_now"): {B}, ("awaiting_payment", "cancel"): {B},
    ("funded_new", "accept_order"): {S}, ("funded_new", "cancel"): {S}, ("funded_new", "mark_dispatched"): {S},
    ("funded_new", "report_problem"): {B}, ("funded_new", "new_code"): {B}, ("funded_new", "confirm_delivery"): {S},
    ("funded", "accept_order"): {S},
    ("funded", "cancel"): {S}, ("funded", "mark_dispatched"): {S}, ("funded", "report_problem"): {B},
    ("funded", "new_code"): {B}, ("funded", "confirm_delivery"): {B, S},
    ("dispatched", "cancel"): {S}, ("dispatched", "report_problem"): {B}, ("dispatched", "new_code"): {B},
    ("dispatched", "confirm_delivery"): {B, S},
}
# Shown on the order's menu but not a change: paying by paybill only shows the paybill details.
SHOWN_ONLY = {("awaiting_payment", B): {"paybill"}}
# Allowed but not on the order's own menu: the seller of a new paid order is offered Accept first
# (entering the code from the main menu, or marking it sent, also count as acting on it).
NOT_OFFERED = {("funded_new", S): {"mark_dispatched", "confirm_delivery"}, ("funded", S): {"accept_order"}}
IDEMPOTENT = {("funded", "accept_order")}   # accepting twice changes nothing, and says so by succeeding
PHONES = (f"07{n:08d}" for n in itertools.count(33000001))


class World:
    """The service on a real database, a fake M-Pesa behind the worker, and fresh phones per order."""

    def __init__(self, database, core):
        roomy = dataclasses.replace(core.settings, orders_per_hour=10_000, stk_pushes_per_hour=10_000)
        self.core = dataclasses.replace(core, settings=roomy)
        self.db, self.gateway = database, FakePaymentGateway()
        self.service = EscrowService(database, self.core)
        self.worker = Worker(database, self.core, self.gateway, FakeSmsSender())

    def order_in(self, state: str) -> tuple[str, dict]:
        buyer, seller, stranger = next(PHONES), next(PHONES), next(PHONES)
        people = {B: buyer, S: seller, "stranger": stranger}
        if state == "requested":
            return self.service.request_payment(seller=seller, buyer=buyer, price=1500, item="Kettle").reference, people
        ref = self.service.create_order(buyer=buyer, seller=seller, price=1500, item="Kettle").reference
        if state == "cancelled":
            self.service.cancel_order(buyer, ref)
        if state in ("awaiting_payment", "cancelled"):
            return ref, people
        state_reached = "funded" if state == "funded_new" else state
        self.worker.run_once()
        push = next(p for p in reversed(self.gateway.pushes) if p["reference"] == ref)
        self.service.record_payment_result(PaymentResult(push["checkout_id"], True, "0", "ok", push["amount"],
                                                         f"RM{push['checkout_id'][-8:]}"))
        if state not in ("funded_new", "dispatched"):
            self.service.accept_order(seller, ref)
        if state == "dispatched":
            self.service.mark_dispatched(seller, ref)
        elif state == "disputed":
            self.service.open_dispute(buyer, ref, "damaged")
        elif state == "refunding":
            self.service.cancel_order(seller, ref)
        elif state == "released":
            self.confirm_delivery(buyer, ref, self.code_for(ref))
        assert self.state(ref) == state_reached
        return ref, people

    def state(self, ref: str) -> str:
        with self.db.transaction() as session:
            return session.scalar(select(Order.state).where(Order.reference == ref))

    def effects(self, ref: str) -> tuple:
        """Everything an action could change: the order, its side effects, the money."""
        with self.db.transaction() as session:
            order = session.scalar(select(Order).where(Order.reference == ref))
            count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
            return (order.state, order.version, order.code_hash, getattr(order, "seller_accepted_at", None),
                    count(OutboxItem), count(Posting), count(Payout))

    def code_for(self, ref: str) -> str:
        with self.db.transaction() as session:
            sealed = session.scalars(select(SmsMessage.body_sealed).join(Order, Order.id == SmsMessage.order_id)
                                     .where(Order.reference == ref, SmsMessage.kind.in_(
                                         ("code_to_buyer", "new_code_to_buyer"))).order_by(SmsMessage.id)).all()
        texts = [self.core.vault.unseal(s).replace(ref, "") for s in sealed]
        return re.findall(r"\b(\d{6})\b", " ".join(texts))[-1] if texts else "000000"

    def confirm_delivery(self, caller: str, ref: str, code: str):
        match = self.service.check_delivery_code(caller=caller, code=code)
        assert match.order.reference == ref, "a code matched another order"
        return self.service.confirm_delivery(caller=caller, reference=ref, token=match.token)

    def act(self, action: str, caller: str, ref: str):
        service = self.service
        return {
            "view": lambda: service.order_for(caller, ref),
            "accept": lambda: service.accept_request(caller, ref),
            "decline": lambda: service.decline_request(caller, ref),
            "pay_now": lambda: service.pay_again(caller, ref),
            "cancel": lambda: service.cancel_order(caller, ref),
            "accept_order": lambda: service.accept_order(caller, ref),
            "mark_dispatched": lambda: service.mark_dispatched(caller, ref),
            "report_problem": lambda: service.open_dispute(caller, ref, "not_received"),
            "new_code": lambda: service.reissue_code(caller, ref),
            "confirm_delivery": lambda: self.confirm_delivery(caller, ref, self.code_for(ref)),
        }[action]()


@pytest.fixture
def world(database, core):
    return World(database, core)


@pytest.mark.parametrize("state", STATES)
def test_each_party_may_do_exactly_what_the_table_allows(world, state):
    """Refusals are tried on one order of the state (a refusal must leave it as it was); every
    allowed action gets a fresh order, and must change something."""
    shared, wrong = world.order_in(state), []
    for action, actor in itertools.product(ACTIONS, (B, S, "stranger")):
        allowed = actor in ALLOWED.get((state, action), set())
        ref, people = world.order_in(state) if allowed and action != "view" else shared
        before = world.effects(ref)
        try:
            world.act(action, people[actor], ref)
            done = True
        except EscrowError:
            done = False
        after = world.effects(ref)
        if done != allowed:
            wrong.append(f"{actor}: {'did' if done else 'was refused'} {action} on a {state} order")
        if not done and after != before:
            wrong.append(f"{actor}: refused {action} on a {state} order, yet it changed {before} -> {after}")
        if done and action != "view" and (state, action) not in IDEMPOTENT and after == before:
            wrong.append(f"{actor}: {action} on a {state} order was accepted but changed nothing")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("state", STATES)
def test_the_menu_offers_each_party_exactly_the_actions_the_table_allows(world, state):
    ref, people = world.order_in(state)
    for role in (B, S):
        offered = set(world.service.order_for(people[role], ref).actions)
        expected = {a for a in ACTIONS if a != "view" and role in ALLOWED.get((state, a), set())}
        expected = (expected | SHOWN_ONLY.get((state, role), set())) - NOT_OFFERED.get((state, role), set())
        assert offered == expected, f"{role} of a {state} order"
    assert all(ref != view.reference for view in world.service.orders_of(people["stranger"]))


def test_a_stranger_holding_the_code_or_the_sellers_token_releases_nothing(world):
    ref, people = world.order_in("funded")
    code, before = world.code_for(ref), world.effects(ref)
    with pytest.raises(EscrowError):
        world.service.check_delivery_code(caller=people["stranger"], code=code)
    token = world.service.check_delivery_code(caller=people[S], code=code).token
    with pytest.raises(EscrowError):
        world.service.confirm_delivery(caller=people["stranger"], reference=ref, token=token)
    assert world.effects(ref) == before


# --- the same through USSD, on the real app -----------------------------------------------------------
LABELS = {"pay_now": "Pay now", "paybill": "Pay via Paybill", "confirm_delivery": "Enter delivery code",
          "report_problem": "Report a problem", "mark_dispatched": "Mark as sent", "cancel": "Cancel order",
          "accept": "Accept and pay", "decline": "Decline", "new_code": "Get a new code",
          "accept_order": "Accept order"}


@pytest.fixture
def ussd(database_url, redis_url, tmp_path, core):
    from app import create_app
    from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url,
                      "REDIS_URL": redis_url, "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY,
                      "USSD_PATH_TOKEN": "matrix", "STK_DELAY_SECONDS": "0", "ORDERS_PER_HOUR": "10000",
                      "STK_PUSHES_PER_HOUR": "10000"})
    zemi = app.extensions["zemi"]
    zemi.redis.flushdb()
    world = World(zemi.db, zemi.core)
    sessions = itertools.count(1)

    def dial(phone: str, *inputs: str) -> str:
        session, typed = f"ATUid_matrix{next(sessions)}", []
        for answer in ("",) + inputs:
            typed += [answer] if answer else []
            reply = app.test_client().post("/ussd/matrix", data={"sessionId": session, "phoneNumber": phone,
                                                                 "serviceCode": "*384*1234#", "text": "*".join(typed)})
            assert reply.status_code == 200
        return reply.get_data(as_text=True)

    yield world, dial
    zemi.db.dispose()


@pytest.mark.parametrize("state", ("requested", "awaiting_payment", "funded_new", "funded", "dispatched", "disputed"))
def test_on_ussd_each_party_sees_its_own_actions_and_a_stranger_sees_no_order(ussd, state):
    world, dial = ussd
    ref, people = world.order_in(state)
    for role in (B, S):
        screen = dial(people[role], "3", "1")                     # My orders, the newest
        assert ref in screen, f"{role} cannot open the order: {screen!r}"
        expected = {a for a in ACTIONS if a != "view" and role in ALLOWED.get((state, a), set())}
        expected = (expected | SHOWN_ONLY.get((state, role), set())) - NOT_OFFERED.get((state, role), set())
        shown = {action for action, label in LABELS.items() if label in screen}
        assert shown == expected, f"{role} of a {state} order is offered {shown}, not {expected}: {screen!r}"
    assert ref not in dial(people["stranger"], "3") + dial(people["stranger"], "3", "1")


def test_on_ussd_a_stranger_with_the_code_is_refused_and_the_order_stays_held(ussd):
    world, dial = ussd
    ref, people = world.order_in("funded")
    before = world.effects(ref)
    reply = dial(people["stranger"], "4", world.code_for(ref), "1")
    assert "Released" not in reply and world.effects(ref)[0] == "funded", reply
    assert world.effects(ref)[3:] == before[3:]
