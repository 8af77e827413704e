"""The core's face to the adapters: each method is one use case in one transaction."""
import logging
from dataclasses import replace

from sqlalchemy import select

from escrow import code_on_screen, delivery, greeting, lifecycle, limits, ordering, payments, settlement
from escrow.catalog import LANGUAGES
from escrow.context import Core
from escrow.db import Database, insert_once
from escrow.errors import EscrowError
from escrow.fees import quote
from escrow.findings import list_findings
from escrow.inbox import mark_callback, store_callback
from escrow.intake import CallbackIntake
from escrow.models import Order, Profile
from escrow.orders import order_of_party, view_for
from escrow.payment_links import link_url
from escrow.phone import normalize_msisdn
from escrow.text import clean_item
from escrow.payouts import PayoutResult, record_transfer_timeout
from escrow.views import CodeMatch, HelpInfo, OrderView, Quote, ScreenCode


log = logging.getLogger("zemi")
# A new number's profile in one autocommit statement; set_config(..., true) lasts that statement's own
# transaction, whose commit (and so its wait for the disk, or not) comes after it (escrow.service.greet).
# Outcomes that changed nothing; the stored callback keeps them as its status so they can be found.
NOT_APPLIED = ("orphan", "duplicate", "unknown", "ignored", "inconclusive", "conflict", "review")


class EscrowService:
    def __init__(self, db: Database, core: Core, journal=None):
        self.db = db
        self.core = core
        self.intake = CallbackIntake(db, core, journal)   # adapters register their processors on it
        self._order_watchers: list = []

    def watch_orders(self, watcher) -> None:
        """`watcher(phones)` is called after a use case that counts against the numbers' limits (an order
        made, a payment prompt queued) has committed: an adapter that remembers a limits pass (USSD, in
        Redis) forgets it. A watcher's failure is its own: the use case has already happened."""
        self._order_watchers.append(watcher)

    def _orders_made(self, *phones: str) -> None:
        for watcher in self._order_watchers:
            try:
                watcher(phones)
            except Exception as exc:  # noqa: BLE001 - the order stands; a stale pass only lasts its minute
                log.warning("order watcher failed: %s", type(exc).__name__)

    # --- orders -------------------------------------------------------------------------
    def quote(self, price: int) -> Quote:
        return quote(price, self.core.settings)

    def limits(self) -> tuple[int, int]:
        return self.core.settings.order_min, self.core.settings.order_max

    def item_as_stored(self, typed: str) -> str:
        """The item exactly as an order would store it, which is what a summary must show."""
        return clean_item(typed, self.core.settings)

    def create_order(self, *, buyer: str, seller: str, price: int, item: str, prompt: bool = True) -> OrderView:
        """`prompt=False`: no STK push (the buyer's line is not on M-Pesa; they pay by Paybill)."""
        order = ordering.create_order_at_once(self.db, self.core, buyer=buyer, seller=seller, price=price, item=item,
                                              prompt=prompt)
        self._orders_made(buyer, seller)
        return view_for(self.core, order, "buyer", counterpart=normalize_msisdn(seller))

    def request_payment(self, *, seller: str, buyer: str, price: int, item: str, share_link: bool = False,
                        also=None) -> OrderView:
        """The seller's view carries the payment link (`pay_url`); `share_link` also SMSes it to the seller
        (USSD); `also(session, order)`, if given, runs in the same transaction (the API's own rows)."""
        with self.db.transaction() as session:
            order, token = ordering.request_payment(session, self.core, seller=seller, buyer=buyer, price=price,
                                                    item=item, share_link=share_link)
            if also is not None:
                also(session, order)
            view = replace(view_for(self.core, order, "seller"), pay_url=link_url(self.core, token))
        self._orders_made(seller, buyer)
        return view

    def _party_action(self, use_case, phone: str, reference: str, *args) -> OrderView:
        with self.db.transaction() as session:
            order = use_case(session, self.core, phone, reference, *args)
            _, role = order_of_party(session, self.core, phone, reference)
            session.refresh(order)
            return view_for(self.core, order, role)

    def accept_request(self, phone: str, reference: str, prompt: bool = True) -> OrderView:
        view = self._party_action(lifecycle.accept_request, phone, reference, prompt)
        self._orders_made(phone)   # a payment prompt
        return view

    def decline_request(self, phone: str, reference: str) -> OrderView:
        return self._party_action(lifecycle.decline_request, phone, reference)

    def pay_again(self, phone: str, reference: str) -> OrderView:
        view = self._party_action(lifecycle.pay_again, phone, reference)
        self._orders_made(phone)   # a payment prompt
        return view

    def cancel_order(self, phone: str, reference: str) -> OrderView:
        return self._party_action(lifecycle.cancel_order, phone, reference)

    def check_limits(self, phone: str, *, paying: bool) -> None:
        """Refuse now (LimitExceeded) if `phone` could not make any order: its orders this hour, and
        when it pays, its M-Pesa prompts this hour and its 24-hour total. A menu asks at its first screen.
        A look only (one SELECT, no lock, no transaction on PostgreSQL): create_order counts again under its lock."""
        key = self.core.vault.phone_key(phone)
        limits.look_at_order_limits(self.db, self.core, creator_key=key, buyer_key=key if paying else "",
                                    charge=self.core.settings.order_min if paying else 0, pushes_too=paying)

    def accept_order(self, phone: str, reference: str) -> OrderView:
        """The seller accepts a paid order from their line: the buyer may then release to them."""
        return self._party_action(lifecycle.accept_order, phone, reference)

    def mark_dispatched(self, phone: str, reference: str) -> OrderView:
        return self._party_action(lifecycle.mark_dispatched, phone, reference)

    def open_dispute(self, phone: str, reference: str, reason: str) -> OrderView:
        return self._party_action(lifecycle.open_dispute, phone, reference, reason)

    def reissue_code(self, phone: str, reference: str) -> OrderView:
        return self._party_action(lifecycle.reissue_code, phone, reference)

    def resolve_dispute(self, reference: str, *, outcome: str, to_seller: int | None = None, note: str = "",
                        actor: str = "operator", audit=None) -> str:
        """`actor` names the operator in the timeline; `audit(session, order)`, if given, records the
        decision in the same transaction (the console's audit trail)."""
        with self.db.transaction() as session:
            order = lifecycle.resolve_dispute(session, self.core, reference, outcome=outcome, to_seller=to_seller,
                                              note=note, actor=actor)
            if audit is not None:
                audit(session, order)
            return order.state

    def refund_review(self, reference: str, *, note: str = "") -> str:
        with self.db.transaction() as session:
            return lifecycle.refund_review(session, self.core, reference, note=note).state

    def orders_of(self, phone: str, *, offset: int = 0, limit: int = 5) -> list[OrderView]:
        key = self.core.vault.phone_key(phone)
        with self.db.transaction() as session:
            orders = session.scalars(select(Order).where((Order.buyer_key == key) | (Order.seller_key == key))
                                     .order_by(Order.id.desc()).offset(offset).limit(limit))
            return [view_for(self.core, order, "buyer" if order.buyer_key == key else "seller") for order in orders]

    def order_for(self, phone: str, reference: str) -> OrderView:
        with self.db.transaction() as session:
            order, role = order_of_party(session, self.core, phone, reference)
            return code_on_screen.with_screen_code_offer(session, self.core, order, view_for(self.core, order, role))

    def show_code_on_screen(self, phone: str, reference: str) -> ScreenCode:
        """A new delivery code for the buyer's own screen, once, when its SMS could not arrive."""
        with self.db.transaction() as session:
            order, code = code_on_screen.show_code_on_screen(session, self.core, phone, reference)
            session.refresh(order)
            return ScreenCode(view_for(self.core, order, "buyer"), code)

    # --- delivery -----------------------------------------------------------------------
    def check_delivery_code(self, *, caller: str, code: str) -> CodeMatch:
        """Counted misses must survive the exception that reports them, so they commit apart."""
        with self.db.transaction() as session:
            try:
                return delivery.check_delivery_code(session, self.core, caller=caller, code=code)
            except EscrowError as error:
                session.commit()
                raise error

    def confirm_delivery(self, *, caller: str, reference: str, token: str) -> OrderView:
        with self.db.transaction() as session:
            return delivery.confirm_delivery(session, self.core, caller=caller, reference=reference, token=token)

    # --- M-Pesa results -----------------------------------------------------------------
    def record_payment_result(self, result: payments.PaymentResult, callback_id: int | None = None) -> str:
        """A fresh success for an attempt that has its checkout id applies in one unit of work. Any
        other result first records the checkout id its callback's URL names (committed on its own,
        so it stays even if applying fails and the stored callback is retried without its URL)."""
        with self.db.transaction() as session:
            outcome = payments.apply_fresh_success(session, self.core, result)
            if outcome is not None and callback_id is not None:
                mark_callback(session, callback_id, outcome if outcome in NOT_APPLIED else "applied")
        if outcome is not None:
            return outcome
        self.link_payment_attempt(result)
        return self._apply(callback_id, lambda session: payments.record_payment_result(session, self.core, result))

    def link_payment_attempt(self, result: payments.PaymentResult) -> None:
        """Record the checkout id a callback to an attempt's own URL carries (escrow.payments)."""
        if result.attempt_id is not None:
            with self.db.transaction() as session:
                payments.link_checkout_id(session, result)

    def hold_stk_success(self, callback_id: int) -> None:
        """An STK success held until an STK Push Query confirms it (escrow/confirmation.py)."""
        from escrow.confirmation import hold_stk_success
        with self.db.transaction() as session:
            hold_stk_success(session, callback_id)

    def record_payout_result(self, result: PayoutResult, callback_id: int | None = None) -> str:
        return self._apply(callback_id, lambda session: settlement.record_payout_result(session, self.core, result))

    def record_payout_timeout(self, result: PayoutResult, callback_id: int | None = None) -> str:
        return self._apply(callback_id, lambda session: record_transfer_timeout(session, self.core, result))

    def store_callback(self, *, source: str, body: bytes, remote_addr: str | None) -> int:
        return store_callback(self.db, self.core.vault, source=source, body=body, remote_addr=remote_addr)

    def mark_callback(self, callback_id: int, status: str, note: str | None = None) -> None:
        with self.db.transaction() as session:
            mark_callback(session, callback_id, status, note)

    def _apply(self, callback_id: int | None, use_case) -> str:
        """Run a result use case and mark its stored callback in the same transaction."""
        with self.db.transaction() as session:
            outcome = use_case(session)
            if callback_id is not None:
                mark_callback(session, callback_id, outcome if outcome in NOT_APPLIED else "applied")
            return outcome

    # --- SMS reports -------------------------------------------------------------------
    def record_sms_delivery(self, report, callback_id: int | None = None) -> str:
        from escrow.sms_events import record_delivery_report
        return self._apply(callback_id, lambda session: record_delivery_report(
            session, self.core, message_id=report.message_id, status=report.status, final=report.final,
            delivered=report.delivered, failure_reason=report.failure_reason))

    def record_inbound_sms(self, inbound, callback_id: int | None = None) -> str:
        from escrow.sms_events import record_inbound_sms
        return self._apply(callback_id, lambda session: record_inbound_sms(
            session, self.core, message_id=inbound.message_id, from_phone=inbound.from_phone, text=inbound.text))

    # --- people -------------------------------------------------------------------------
    def language_of(self, phone: str) -> str:
        return greeting.language_of(self.db, self.core.vault.phone_key(phone)) or "en"

    def welcome(self, phone: str) -> greeting.Welcome:
        """The number's language, one read; for a number never seen, English and `first` (greet it with the
        language offer, and hand its dial to record_first_dials, at once or later: the USSD adapter queues it)."""
        return greeting.welcome(self.db, self.core.vault.phone_key(phone))

    def record_first_dials(self, dials: list[greeting.QueuedDial]) -> int:
        """Make the numbers first dialled a while ago known (their profiles); how many were written."""
        return greeting.record_first_dials(self.db, dials)

    def set_language(self, phone: str, language: str) -> None:
        if language not in LANGUAGES:
            raise EscrowError(f"unknown language {language!r}")
        key = self.core.vault.phone_key(phone)
        with self.db.transaction() as session:
            if not insert_once(session, Profile, phone_key=key, language=language):
                session.get(Profile, key).language = language

    def help_info(self) -> HelpInfo:
        settings = self.core.settings
        return HelpInfo(paybill=self.core.paybill, fee_bps=settings.fee_bps, fee_min=settings.fee_min,
                        fee_max=settings.fee_max, fee_payer=settings.fee_payer, support_phone=self.core.support_phone)

    # --- paybill (C2B) and reconciliation (appended by the M-Pesa helper) -------------------
    def validate_paybill(self, payment, our_shortcode: str | None = None) -> tuple[str, str]:
        """Daraja's C2B validation: (ResultCode, ResultDesc); reads only, answers fast."""
        from escrow.paybill import validate_payment
        with self.db.transaction() as session:
            return validate_payment(session, self.core, payment, our_shortcode)

    def record_paybill_payment(self, payment, callback_id: int | None = None,
                               our_shortcode: str | None = None) -> str:
        """A C2B confirmation: funds the order through the same use case as STK, once per TransID."""
        from escrow.paybill import record_paybill_payment
        return self._apply(callback_id, lambda session: record_paybill_payment(session, self.core, payment,
                                                                               our_shortcode))

    def open_findings(self) -> list[dict]:
        """What reconciliation and the callbacks flagged for an operator, oldest first."""
        with self.db.transaction() as session:
            return list_findings(session)
