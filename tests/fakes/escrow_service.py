"""FakeEscrowService: the escrow core's contract for adapters, in memory.

Orders are plain records; every call that changes something is logged in `calls` so tests
can assert that an effect happened exactly once.
"""
import hashlib
from dataclasses import dataclass, field

from escrow.errors import (CodeLocked, InvalidAmount, InvalidTransition, LimitExceeded, NotAllowed,
                           OrderNotFound, SellerNotAccepted, WrongCode)
from escrow.greeting import Welcome
from escrow.phone import mask, normalize_msisdn, to_local
from escrow.text import clip, transliterate
from escrow.views import DISPUTE_REASONS, CodeMatch, HelpInfo, OrderView, Quote, ScreenCode


@dataclass
class FakeOrder:
    reference: str
    buyer: str
    seller: str
    price: int
    item: str
    state: str = "awaiting_payment"
    code: str | None = None
    requested: bool = False
    dispatched: bool = False
    accepted: bool = False       # the seller accepted it from their line (or asked for the payment)
    code_sms: str = "delivered"  # the code SMS: "failed" (UserInBlackList...) lets the code be shown on screen
    code_shown: bool = False     # a code was shown on the buyer's screen (once per order)

    @property
    def seller_acted(self) -> bool:
        return self.accepted or self.dispatched or self.requested


@dataclass
class FakeEscrowService:
    order_min: int = 50
    order_max: int = 250_000
    fee_bps: int = 150
    fee_min: int = 10
    fee_max: int = 1_000
    fee_payer: str = "seller"
    paybill: str = "600100"
    support_phone: str = "0800720000"
    max_code_tries: int = 5
    item_max_chars: int = 20
    orders: dict = field(default_factory=dict)
    languages: dict = field(default_factory=dict)
    first_dialled: dict = field(default_factory=dict)   # a new number's key -> the number
    code_tries: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)
    next_reference: int = 40000001
    limit_reached: str | None = None     # a LimitExceeded name check_limits raises (value 10)

    # ---- test helpers ---------------------------------------------------------------------
    def seed(self, *, buyer, seller, price, item, state="awaiting_payment", code=None,
             requested=False, reference=None, accepted=False, code_sms="delivered") -> str:
        reference = str(reference or self._new_reference())
        self.orders[reference] = FakeOrder(reference, normalize_msisdn(buyer), normalize_msisdn(seller),
                                           int(price), item, state, code and str(code), requested,
                                           accepted=accepted, code_sms=code_sms)
        return reference

    def count(self, name: str) -> int:
        return sum(1 for call, _ in self.calls if call == name)

    # ---- the contract ---------------------------------------------------------------------
    def quote(self, price: int) -> Quote:
        if not isinstance(price, int) or price <= 0:
            raise InvalidAmount(f"not an amount: {price!r}")
        if price < self.order_min:
            raise LimitExceeded("order_min", self.order_min)
        if price > self.order_max:
            raise LimitExceeded("order_max", self.order_max)
        fee = min(max(price * self.fee_bps // 10_000, self.fee_min), self.fee_max)
        if self.fee_payer == "buyer":
            return Quote(price, fee, "buyer", price + fee, price)
        return Quote(price, fee, "seller", price, price - fee)

    def check_limits(self, phone, *, paying) -> None:
        if self.limit_reached and (paying or self.limit_reached == "orders_per_hour"):
            raise LimitExceeded(self.limit_reached, 250_000 if self.limit_reached.startswith("daily") else 10)

    def limits(self) -> tuple[int, int]:
        return self.order_min, self.order_max

    def item_as_stored(self, typed: str) -> str:
        return clip(transliterate(typed), self.item_max_chars) or "item"

    def create_order(self, *, buyer, seller, price, item, prompt=True) -> OrderView:
        view = self._open("create_order", buyer, buyer, seller, price, item, requested=False)
        self.calls[-1][1]["prompt"] = prompt
        return view

    def request_payment(self, *, seller, buyer, price, item, share_link=False, also=None) -> OrderView:
        return self._open("request_payment", seller, buyer, seller, price, item, requested=True)

    def orders_of(self, phone, *, offset=0, limit=5) -> list[OrderView]:
        number = normalize_msisdn(phone)
        mine = [o for o in reversed(list(self.orders.values())) if number in (o.buyer, o.seller)]
        return [self._view(o, number) for o in mine[offset: offset + limit]]

    def order_for(self, phone, reference) -> OrderView:
        return self._view(self._order_of(phone, reference), normalize_msisdn(phone))

    def pay_again(self, phone, reference) -> OrderView:
        return self._act("pay_again", "pay_now", phone, reference, lambda o: None)

    def accept_request(self, phone, reference, prompt=True) -> OrderView:
        return self._act("accept_request", "accept", phone, reference, lambda o: setattr(o, "requested", False),
                         prompt=prompt)

    def decline_request(self, phone, reference) -> OrderView:
        return self._act("decline_request", "decline", phone, reference, lambda o: setattr(o, "state", "cancelled"))

    def accept_order(self, phone, reference) -> OrderView:
        return self._act("accept_order", "accept_order", phone, reference, lambda o: setattr(o, "accepted", True))

    def mark_dispatched(self, phone, reference) -> OrderView:
        return self._act("mark_dispatched", "mark_dispatched", phone, reference,
                         lambda o: setattr(o, "dispatched", True))

    def cancel_order(self, phone, reference) -> OrderView:
        def cancel(order):   # a paid order is refunded in full; an unpaid one just ends
            order.state = "refunding" if order.state == "funded" else "cancelled"
        return self._act("cancel_order", "cancel", phone, reference, cancel)

    def open_dispute(self, phone, reference, reason) -> OrderView:
        if reason not in DISPUTE_REASONS:
            raise NotAllowed(f"unknown reason {reason!r}")
        return self._act("open_dispute", "report_problem", phone, reference,
                         lambda o: setattr(o, "state", "disputed"), reason=reason)

    def reissue_code(self, phone, reference) -> OrderView:
        def fresh_code(order):
            order.code = f"{(int(order.code or 0) + 111111) % 1_000_000:06d}"
            self.code_tries.clear()
        return self._act("reissue_code", "new_code", phone, reference, fresh_code)

    def show_code_on_screen(self, phone, reference) -> ScreenCode:
        def fresh_code(order):
            order.code, order.code_shown = f"{(int(order.code or 0) + 222222) % 1_000_000:06d}", True
            self.code_tries.clear()
        view = self._act("show_code_on_screen", "code_on_screen", phone, reference, fresh_code)
        return ScreenCode(view, self.orders[str(reference)].code)

    def check_delivery_code(self, *, caller, code) -> CodeMatch:
        number = normalize_msisdn(caller)
        if self.code_tries.get(number, 0) >= self.max_code_tries:
            raise CodeLocked("code entry locked")
        for order in self.orders.values():
            if number in (order.seller, order.buyer) and order.state == "funded" and order.code == code:
                self.code_tries[number] = 0
                if number == order.buyer and not order.seller_acted:
                    raise SellerNotAccepted(order.reference)
                return CodeMatch(self._view(order, number), token=f"token-{order.reference}")
        return self._wrong_code(number)

    def confirm_delivery(self, *, caller, reference, token) -> OrderView:
        order = self._order_of(caller, reference)
        if token != f"token-{reference}":
            raise NotAllowed("token does not match")
        if normalize_msisdn(caller) == order.buyer and not order.seller_acted:
            raise SellerNotAccepted(reference)
        if order.state != "funded":
            raise InvalidTransition(order.state, "delivery_confirmed")
        order.state = "released"
        self.calls.append(("confirm_delivery", {"reference": reference}))
        return self._view(order, normalize_msisdn(caller))

    def welcome(self, phone) -> Welcome:
        number = normalize_msisdn(phone)
        if number in self.languages:
            return Welcome(self.languages[number], False)
        key = hashlib.sha256(number.encode()).hexdigest()   # the core's is keyed (escrow/vault.py)
        self.first_dialled[key] = number
        return Welcome("en", True, key)

    def record_first_dials(self, dials) -> int:
        new = {self.first_dialled[dial.key] for dial in dials} - set(self.languages)
        self.languages.update((number, "en") for number in new)
        return len(new)

    def language_of(self, phone) -> str:
        return self.languages.get(normalize_msisdn(phone), "en")

    def set_language(self, phone, language) -> None:
        self.languages[normalize_msisdn(phone)] = language
        self.calls.append(("set_language", {"language": language}))

    def help_info(self) -> HelpInfo:
        return HelpInfo(self.paybill, self.fee_bps, self.fee_min, self.fee_max, self.fee_payer,
                        self.support_phone)

    # ---- inside the fake ------------------------------------------------------------------
    def _new_reference(self) -> str:
        self.next_reference += 1
        return str(self.next_reference - 1)

    def _open(self, name, viewer, buyer, seller, price, item, *, requested) -> OrderView:
        buyer, seller = normalize_msisdn(buyer), normalize_msisdn(seller)
        if buyer == seller:
            raise NotAllowed("buyer and seller are the same number")
        self.quote(price)
        reference = self.seed(buyer=buyer, seller=seller, price=price, item=item[:20], requested=requested)
        self.calls.append((name, {"reference": reference, "price": price, "item": item}))
        return self.order_for(viewer, reference)

    def _order_of(self, phone, reference) -> FakeOrder:
        order = self.orders.get(str(reference))
        if order is None or normalize_msisdn(phone) not in (order.buyer, order.seller):
            raise OrderNotFound(f"no order {reference}")
        return order

    def _act(self, name, action, phone, reference, change, **details) -> OrderView:
        order = self._order_of(phone, reference)
        if action not in self.order_for(phone, reference).actions:
            raise NotAllowed(f"{action} is not offered")
        change(order)
        self.calls.append((name, {"reference": reference, **details}))
        return self.order_for(phone, reference)

    def _wrong_code(self, number):
        tries = self.code_tries.get(number, 0) + 1
        self.code_tries[number] = tries
        if tries >= self.max_code_tries:
            raise CodeLocked("code entry locked")
        raise WrongCode(self.max_code_tries - tries)

    def _view(self, order: FakeOrder, viewer: str) -> OrderView:
        role = "buyer" if viewer == order.buyer else "seller"
        other = order.seller if role == "buyer" else order.buyer
        quote = self.quote(order.price)
        return OrderView(order.reference, order.state, order.item, order.price, quote.fee, quote.charge,
                         quote.payout, role, mask(other), _actions(order, role), counterpart=to_local(other),
                         seller_accepted=order.seller_acted, fee_payer=quote.fee_payer)


def _actions(order: FakeOrder, role: str) -> tuple[str, ...]:
    offered = _offered(order, role)
    if order.code_sms == "failed" and not order.code_shown:   # as the core: escrow/code_on_screen.py
        return tuple("code_on_screen" if name == "new_code" else name for name in offered)
    return offered


def _offered(order: FakeOrder, role: str) -> tuple[str, ...]:
    if order.state == "awaiting_payment" and order.requested:
        return ("accept", "decline") if role == "buyer" else ("cancel",)
    if order.state == "awaiting_payment":
        return ("pay_now", "paybill", "cancel") if role == "buyer" else ()
    if order.state == "funded" and not order.seller_acted:   # as the core: escrow/orders.py
        return ("report_problem", "new_code") if role == "buyer" else ("accept_order", "cancel")
    if order.state == "funded" and role == "buyer":
        return ("confirm_delivery", "report_problem", "new_code")
    if order.state == "funded":
        return ("confirm_delivery", "mark_dispatched", "cancel")
    return ()
