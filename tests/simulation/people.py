"""What the simulated people do: buyers and sellers (on USSD through the routes, or the service's use
cases), a stranger who learnt a delivery code, an operator deciding disputes and reviews, and a forger
holding the callback token. Mixed into Simulation (system.py), whose seeded `rng`, `service`, `world`,
`orders`, `report` and USSD clients they use."""
import os
import re

from sqlalchemy import select

from escrow.errors import EscrowError
from escrow.models import Order, Payout

USSD_TOKEN = "sim-ussd-token"
INTENTS = ("confirm", "confirm", "confirm", "dispatch_confirm", "dispatch_wait", "seller_cancel", "dispute",
           "never_dispatched", "buyer_cancel")


class People:
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
        buyer, intent = order["buyer"], order["intent"]
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

    # --- a forger ----------------------------------------------------------------------------------------
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
