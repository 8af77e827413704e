"""Payment links: PUBLIC_BASE_URL/p/<token>, the pay page of one order, or an open link (whoever
pays becomes the buyer). The token is unguessable (128 random bits, 22 characters: short enough for
an SMS) where order references are 8 digits and can be walked; only its sha256 is kept.

A seller's payment request, made on USSD or through the API, gets its links here, in the same
transaction as the order (ordering.request_payment): the buyer's SMS carries it when the text with
the link still fits one GSM-7 segment, and is the plain text otherwise. On USSD the seller is sent
a link by SMS to share it (WhatsApp, Instagram). A link is a bearer secret: the stored readable
copy of an SMS shows it as ******, like a delivery code.

Only the named buyer answers a request (accepts it, which sends them the M-Pesa prompt, or declines
it): from their own line, that is USSD, the API with their phone token, or the link that came to their
phone by SMS. The seller gets a copy of their own (its `parent_id` is the buyer's link, of the same
order): the seller's SMS and the API's `url` carry it, and its page shows the request and says how the
buyer answers, but sends nothing (a seller holding the buyer's link could accept for them and push
prompts to a number that never asked for one: reliability.md X9)."""
import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow.catalog import render
from escrow.context import Core
from escrow.db import insert_row
from escrow.models import Order, PaymentLink
from escrow.notify import dial_params, language_of, queue_sms
from escrow.phone import to_local
from escrow.text import is_gsm7

TOKEN_BYTES = 16
SEGMENT = 160


def link_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(core: Core, token: str) -> str:
    """The link as people get it; empty when no PUBLIC_BASE_URL is known."""
    base = core.public_base_url.rstrip("/")
    return f"{base}/p/{token}" if base and token else ""


def insert_link(session: Session, core: Core, *, seller: str, item: str, price: int, expires_at: datetime,
                order_id: int | None = None, api_key_id: int | None = None, parent_id: int | None = None) -> str:
    """A new link in the caller's transaction; returns its token (shown once, never stored)."""
    return _insert_link(session, core, seller=seller, item=item, price=price, expires_at=expires_at,
                        order_id=order_id, api_key_id=api_key_id, parent_id=parent_id)[0]


def _insert_link(session: Session, core: Core, *, seller: str, item: str, price: int, expires_at: datetime,
                 order_id: int | None, api_key_id: int | None = None, parent_id: int | None = None) -> tuple[str, int]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link_id = insert_row(session, PaymentLink, token_hash=link_digest(token), order_id=order_id, parent_id=parent_id,
                         api_key_id=api_key_id, seller_key=core.vault.phone_key(seller),
                         seller_sealed=core.vault.seal(seller), item=item, price=price, expires_at=expires_at)
    return token, link_id


def link_request(session: Session, core: Core, order: Order, *, buyer: str, seller: str,
                 share_with_seller: bool = False) -> str:
    """A requested order's two links (they live as long as the order may be paid): the buyer's, in the
    buyer's SMS when the text with it fits one segment, and the seller's copy, SMSed to the seller on
    request (USSD) and returned (the seller's view, the API's answer). Returns the seller's copy's token."""
    terms = dict(seller=seller, item=order.item, price=order.price, expires_at=order.pay_by, order_id=order.id)
    token, buyers_link = _insert_link(session, core, **terms)
    sellers_token, _ = _insert_link(session, core, **terms, parent_id=buyers_link)
    url = link_url(core, token)
    params = dict(seller=to_local(seller), ref=order.reference, item=order.item, charge=f"{order.charge:,}",
                  price=f"{order.price:,}", fee=f"{order.fee:,}")
    with_link = url and fits_one_segment(session, core, buyer, "payment_link_to_buyer", link=url, **params)
    queue_sms(session, core, phone=buyer, order_id=order.id,
              kind="payment_link_to_buyer" if with_link else "payment_request_to_buyer",
              secret={"link": url} if with_link else None, **params)
    sellers_url = link_url(core, sellers_token)
    if share_with_seller and sellers_url:
        queue_sms(session, core, phone=seller, kind="pay_link_to_seller", order_id=order.id,
                  secret={"link": sellers_url}, **params)
    return sellers_token


def is_sellers_copy(session: Session, link: PaymentLink) -> bool:
    """The seller's copy of a request's link (its parent is a link of the same order): it answers nothing
    for the buyer. An open link's payer's own link has the open link (no order) as its parent."""
    if link.order_id is None or link.parent_id is None:
        return False
    return session.scalar(select(PaymentLink.order_id).where(PaymentLink.id == link.parent_id)) == link.order_id


def fits_one_segment(session: Session, core: Core, phone: str, kind: str, **params) -> bool:
    """Would SMS `kind` to `phone`, in its reader's language, be one GSM-7 segment?"""
    text = render(language_of(session, core, phone), f"sms.{kind}", **{**dial_params(core, params.get("ref")),
                                                                        **params})
    return len(text) <= SEGMENT and is_gsm7(text)


def claim_for_integration(session: Session, order_id: int, api_key_id: int) -> None:
    """An order's links made through an API key are that key's (the pay page's open links name it)."""
    session.execute(update(PaymentLink).where(PaymentLink.order_id == order_id).values(api_key_id=api_key_id))
