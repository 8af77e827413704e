"""SMS as outbox work: rendered in the recipient's language, sealed at rest, codes redacted."""
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from escrow import outbox
from datetime import datetime

from escrow.catalog import DEFAULT_LANGUAGE, render, when
from escrow.context import Core
from escrow.db import db_now, insert_row
from escrow.models import Order, Profile, SmsMessage
from escrow.phone import mask_numbers_in
from escrow.writes import insert_values, write_at_commit

REDACTED = "******"
PARTY_NUMBERS = ("buyer", "seller")   # in full for the other party; masked in the copy operators read


def language_of(session: Session, core: Core, phone: str) -> str:
    key = core.vault.phone_key(phone)
    known = session.info.get(_LANGUAGES, {})
    if key in known:
        return known[key]
    language = session.scalar(select(Profile.language).where(Profile.phone_key == key))
    return language or DEFAULT_LANGUAGE


def remember_languages(session: Session, languages: dict) -> None:
    """{phone_key: language or None} read along with an order (an outer join on profiles): the
    messages of this unit of work then need no read of their own."""
    session.info.setdefault(_LANGUAGES, {}).update(
        {key: language or DEFAULT_LANGUAGE for key, language in languages.items()})


def order_with_languages(session: Session, order_id: int | None = None, reference: str | None = None):
    """(order, buyer's language, seller's language) in one SELECT, remembered for queue_sms; None if
    there is no such order."""
    buyer, seller = aliased(Profile), aliased(Profile)
    query = (select(Order, buyer.language, seller.language)
             .outerjoin(buyer, buyer.phone_key == Order.buyer_key)
             .outerjoin(seller, seller.phone_key == Order.seller_key))
    query = query.where(Order.id == order_id) if reference is None else query.where(Order.reference == reference)
    row = session.execute(query).first()
    if row is None:
        return None
    order, buyer_language, seller_language = row
    remember_languages(session, {order.buyer_key: buyer_language, order.seller_key: seller_language})
    return order


_LANGUAGES = "zemi.languages"


def queue_sms(session: Session, core: Core, *, phone: str, kind: str, order_id: int | None,
              secret: dict | None = None, **params) -> int:
    """Write the message and its outbox row in the caller's transaction.

    `secret` values (a delivery code) go only into the sealed body; the stored readable
    body shows them as ******. Datetime values are written in East Africa Time with the month in
    the reader's language; {ussd_code}, {paybill} and {dial_order} (the dial-through code that opens
    the order: *384*1234*3*<ref>#) are there for every text that tells someone to dial.
    """
    sms_id = insert_row(session, SmsMessage, **_message(session, core, phone, kind, order_id, secret, params))
    outbox.enqueue_at_commit(session, outbox.SMS, sms_id, due_at=db_now(session))
    return sms_id


def queue_sms_at_commit(session: Session, core: Core, *, phone: str, kind: str, order_id: int | None,
                        secret: dict | None = None, **params) -> None:
    """queue_sms for a caller that needs no message id: the message and its outbox row wait and go in
    one statement with the unit of work's other waiting writes, just before it commits (escrow/writes.py)."""
    row = _message(session, core, phone, kind, order_id, secret, params)
    write_at_commit(session, insert_values(SmsMessage, **row).returning(SmsMessage.id),
                    then=outbox.for_each_new(outbox.SMS, due_at=db_now(session)))


def _message(session: Session, core: Core, phone: str, kind: str, order_id: int | None, secret: dict | None,
             params: dict) -> dict:
    """The sms_messages row: rendered in the recipient's language, sealed, the secret redacted."""
    language = language_of(session, core, phone)
    key = f"sms.{kind}"
    secret = secret or {}
    params = {**dial_params(core, params.get("ref")), **params}
    params = {name: when(language, value) if isinstance(value, datetime) else value
              for name, value in params.items()}
    full = render(language, key, **params, **secret)
    readable = {**params, **{name: mask_numbers_in(str(params[name])) for name in PARTY_NUMBERS if name in params}}
    redacted = render(language, key, **readable, **{name: REDACTED for name in secret})
    return dict(order_id=order_id, recipient_key=core.vault.phone_key(phone), recipient_sealed=core.vault.seal(phone),
                kind=kind, language=language, body_redacted=redacted, body_sealed=core.vault.seal(full),
                status="queued")


def dial_params(core: Core, reference: str | None) -> dict:
    """How to dial in: the service code, the paybill, and for an order the code straight to it."""
    values = {"ussd_code": core.ussd_code, "paybill": core.paybill}
    if reference and core.ussd_code.endswith("#"):
        values["dial_order"] = f"{core.ussd_code[:-1]}*3*{reference}#"
    return values
