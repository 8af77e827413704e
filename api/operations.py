"""The /v1 use cases: each a thin call into EscrowService (the same rules as USSD), shaped by a model.

Every operation is declared once with `operation(...)`: the blueprint (api/routes.py) and the OpenAPI
document (api/openapi.py) are both built from this table."""
from dataclasses import dataclass, field
from typing import Callable

from pydantic import BaseModel

from api import records, verifications
from api.problems import problem
from api.schemas import (CodeIn, DisputeIn, OrderIn, OrderListOut, OrderOut, PaymentLinkOut, PaymentOut,
                         PaymentRequestIn, PhoneTokenOut, VerificationCheckIn, VerificationIn, VerificationOut)
from escrow.phone import normalize_msisdn
from escrow.views import OrderView


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    name: str
    summary: str
    scope: str
    handler: Callable
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    phone: str | None = None          # None, or "party" / "buyer" / "seller": whose token it needs
    query: tuple = field(default=())  # (name, schema, description)


OPERATIONS: list[Operation] = []


def operation(method, path, *, summary, scope, body=None, response=None, status=200, phone=None, query=()):
    def register(handler):
        OPERATIONS.append(Operation(method, path, handler.__name__, summary, scope, handler, body, response,
                                    status, phone, query))
        return handler
    return register


def order_out(view: OrderView, pay_url: str | None = None) -> OrderOut:
    """As USSD shows it to the party asking: the other party's number in full (they must reach each
    other); only the parties' tokens can read an order, so nobody else sees either number."""
    return OrderOut(reference=view.reference, state=view.state, item=view.item, price=view.price, fee=view.fee,
                    charge=view.charge, payout=view.payout, role=view.role,
                    counterpart=view.counterpart or view.counterpart_masked, actions=list(view.actions),
                    pay_url=pay_url)


def payment_out(reference: str, state: str, attempt) -> PaymentOut:
    if attempt is None:
        return PaymentOut(reference=reference, order_state=state, status="none")
    return PaymentOut(reference=reference, order_state=state, status=attempt.status,
                      checkout_id=attempt.checkout_request_id, result_code=attempt.result_code,
                      result_description=attempt.result_desc, requested_at=records.aware(attempt.created_at))


# --- consent -------------------------------------------------------------------------------------
@operation("POST", "/v1/verifications", summary="Send a one-time code by SMS to the number to act for",
           scope="verifications", body=VerificationIn, response=VerificationOut, status=201)
def create_verification(ctx, body: VerificationIn):
    started = verifications.start(ctx.db, ctx.core, ctx.verification, ctx.caller.key_id, body.phone)
    return VerificationOut(id=started.id, phone=started.phone_masked, expires_at=records.aware(started.expires_at))


@operation("POST", "/v1/verifications/{verification_id}/check",
           summary="Exchange the code for a short-lived phone token (Zemi-Phone-Token)",
           scope="verifications", body=VerificationCheckIn, response=PhoneTokenOut)
def check_verification(ctx, body: VerificationCheckIn, verification_id: str):
    done = verifications.check(ctx.db, ctx.core, ctx.verification, ctx.caller.key_id, verification_id, body.code)
    return PhoneTokenOut(token=done.token, phone=done.phone_masked, expires_at=records.aware(done.expires_at))


# --- orders --------------------------------------------------------------------------------------
@operation("POST", "/v1/orders", summary="The verified buyer orders from a seller; the M-Pesa prompt follows",
           scope="orders:write", body=OrderIn, response=OrderOut, status=201, phone="buyer")
def create_order(ctx, body: OrderIn):
    view = ctx.service.create_order(buyer=ctx.phone, seller=body.seller_phone, price=body.amount, item=body.item)
    token, _ = records.new_link(ctx.db, ctx.core, seller=normalize_msisdn(body.seller_phone), item=view.item,
                                price=view.price, order_reference=view.reference, api_key_id=ctx.caller.key_id)
    return order_out(view, ctx.link_url(token))


@operation("POST", "/v1/payment-requests",
           summary="The verified seller asks for payment: a pay link for a named buyer (sent in their SMS when it "
                   "fits one segment), or an open link",
           scope="payment_links", body=PaymentRequestIn, response=PaymentLinkOut, status=201, phone="seller")
def create_payment_request(ctx, body: PaymentRequestIn):
    if body.buyer_phone is None:
        terms, item = ctx.service.quote(body.amount), ctx.service.item_as_stored(body.item)
        token, expires_at = records.new_link(ctx.db, ctx.core, seller=ctx.phone, item=item, price=terms.price,
                                             seconds=ctx.link_seconds, api_key_id=ctx.caller.key_id)
        return PaymentLinkOut(url=ctx.link_url(token), open=True, item=item, price=terms.price,
                              expires_at=expires_at)
    made = {}

    def through_this_key(session, order):   # in the request's own transaction: its webhooks come here
        records.record_api_order(session, order, ctx.caller.key_id)
        made["expires_at"] = records.aware(order.pay_by)
    # the core's use case makes the link (the same as a seller's request on USSD) and SMSes the buyer
    view = ctx.service.request_payment(seller=ctx.phone, buyer=body.buyer_phone, price=body.amount, item=body.item,
                                       also=through_this_key)
    return PaymentLinkOut(url=view.pay_url, open=False, item=view.item, price=view.price,
                          expires_at=made["expires_at"], order=order_out(view))


LIST_QUERY = (("limit", {"type": "integer", "minimum": 1, "maximum": 50, "default": 20}, "Orders per page"),
              ("offset", {"type": "integer", "minimum": 0, "maximum": 100000, "default": 0}, "Orders to skip"))


@operation("GET", "/v1/orders", summary="The verified number's orders, newest first", scope="orders:read",
           response=OrderListOut, phone="party", query=LIST_QUERY)
def list_orders(ctx, limit: int = 20, offset: int = 0):
    views = (ctx.service.orders_of(ctx.phone, offset=offset, limit=limit + 1) if ctx.reaches_every_order else
             records.integrations_orders_of(ctx.db, ctx.core, ctx.phone, ctx.caller.integration, offset=offset,
                                            limit=limit + 1))
    return OrderListOut(data=[order_out(view) for view in views[:limit]], has_more=len(views) > limit)


@operation("GET", "/v1/orders/{reference}", summary="One order, as its party sees it (the other party's number in full, as on USSD)",
           scope="orders:read", response=OrderOut, phone="party")
def get_order(ctx, reference: str):
    return order_out(ctx.service.order_for(ctx.phone, reference))


@operation("GET", "/v1/orders/{reference}/payment", summary="The order's latest payment prompt, for polling",
           scope="orders:read", response=PaymentOut, phone="party")
def get_order_payment(ctx, reference: str):
    return payment_out(*records.latest_attempt(ctx.db, ctx.core, ctx.phone, reference))


@operation("GET", "/v1/payments/{checkout_id}",
           summary="A payment prompt by M-Pesa CheckoutRequestID (orders made through this integration)",
           scope="orders:read", response=PaymentOut)
def get_payment(ctx, checkout_id: str):
    found = records.attempt_by_checkout(ctx.db, checkout_id, ctx.caller.integration)
    if found is None:
        raise problem("not-found", "no such payment for this integration")
    return payment_out(*found)


@operation("POST", "/v1/orders/{reference}/pay-again", summary="The buyer asks for a new M-Pesa prompt",
           scope="orders:write", response=OrderOut, phone="party")
def pay_again(ctx, reference: str):
    return order_out(ctx.service.pay_again(ctx.phone, reference))


@operation("POST", "/v1/orders/{reference}/dispatch", summary="The seller marks the order sent",
           scope="orders:write", response=OrderOut, phone="party")
def mark_dispatched(ctx, reference: str):
    return order_out(ctx.service.mark_dispatched(ctx.phone, reference))


@operation("POST", "/v1/orders/{reference}/confirm-delivery",
           summary="Confirm delivery with the buyer's code (attempts and lockouts shared with USSD)",
           scope="orders:write", body=CodeIn, response=OrderOut, phone="party")
def confirm_delivery(ctx, body: CodeIn, reference: str):
    ctx.service.order_for(ctx.phone, reference)   # a stranger learns nothing, and no guess is counted
    match = ctx.service.check_delivery_code(caller=ctx.phone, code=body.code)
    if match.order.reference != reference:
        raise problem("not-allowed", "that code belongs to another of this number's orders")
    return order_out(ctx.service.confirm_delivery(caller=ctx.phone, reference=reference, token=match.token))


@operation("POST", "/v1/orders/{reference}/disputes", summary="The buyer reports a problem; the payout is frozen",
           scope="orders:write", body=DisputeIn, response=OrderOut, phone="party")
def open_dispute(ctx, body: DisputeIn, reference: str):
    return order_out(ctx.service.open_dispute(ctx.phone, reference, body.reason))


@operation("POST", "/v1/orders/{reference}/cancel",
           summary="Cancel: the buyer before paying, or the seller after (the buyer is refunded in full)",
           scope="orders:write", response=OrderOut, phone="party")
def cancel_order(ctx, reference: str):
    return order_out(ctx.service.cancel_order(ctx.phone, reference))
