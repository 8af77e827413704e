"""Erasing one person's number: asked by `flask data erase`, or by the person texting ERASE / FUTA
and then the code we text back (ERASE <code>: the text's sender proves nothing, the code does).

An erasure must not break a deal in progress: while the number is a party to an order that is not
final, the request is recorded (the number sealed, its keyed hash) and carried out by the worker
when the last such order becomes final. With no open order it is carried out at once: by the
command itself, or, for an SMS, by the worker as soon as the answer has been delivered (so its
delivery report does not bring the number back; at most RETENTION's `reply_wait_seconds`).

Orders stay (amounts, references, ledger); the number becomes unreadable (escrow/privacy/scrub.py),
and what Redis holds about it is forgotten through `forget(number, phone_key)`, a port the
composition root supplies (the core imports no Redis). Every step is in the audit log.
"""
import hmac
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from escrow import audit
from escrow.audit import Actor
from escrow.context import Core
from escrow.db import Database, db_now, insert_new, insert_row, utcnow
from escrow.limits import one_number_at_a_time
from escrow.models import ErasureRequest, Order, SmsMessage
from escrow.notify import queue_sms
from escrow.phone import normalize_msisdn
from escrow.privacy.scrub import IN_FLIGHT, scrub_number
from escrow.states import TERMINAL

log = logging.getLogger(__name__)
PENDING, DONE = "pending", "done"
# ERASE by SMS is confirmed from the phone: 'asked' (a code was sent), then 'used' or 'void' (a wrong
# code spends it). These rows keep only the number's keyed hash, for a day (the asks a day are counted).
ASKED, USED, VOID = "asked", "used", "void"
CONFIRMING = (ASKED, USED, VOID)
ASKS_PER_DAY = 3
CONFIRM_WITHIN = timedelta(hours=24)
ERASE_WORDS = {"ERASE": "en", "FUTA": "sw"}
PERSON = Actor("sms", "person")        # the number's owner, asking by SMS
WORKER = Actor("worker", "system")     # a deferred erasure carried out
Forget = Callable[[str, str], int]


@dataclass
class Erasure:
    request_id: int
    open_orders: list[str] = field(default_factory=list)   # references holding the erasure back
    done: bool = False
    counts: Counter = field(default_factory=Counter)


def open_orders(session: Session, key: str, limit: int = 20) -> list[str]:
    """References of orders the number is a party to that are not final yet."""
    return list(session.scalars(select(Order.reference).where(or_(Order.buyer_key == key, Order.seller_key == key),
                                                              Order.state.not_in([s.value for s in TERMINAL]))
                                .order_by(Order.id).limit(limit)))


def request_erasure(session: Session, core: Core, phone: str, *, source: str, actor: Actor,
                    reason: str | None) -> int:
    """Record the request (one pending request per number: asking again returns the same one)."""
    number = normalize_msisdn(phone)
    key = core.vault.phone_key(number)
    request_id = insert_new(session, ErasureRequest, phone_key=key, phone_sealed=core.vault.seal(number),
                            source=source[:8], actor=actor.name[:12], reason=(reason or None) and reason[:300])
    if request_id is None:
        return session.scalar(select(ErasureRequest.id).where(ErasureRequest.phone_key == key,
                                                              ErasureRequest.status == PENDING))
    audit.record(session, actor, "erasure_requested", target=f"erasure #{request_id}", reason=reason,
                 after={"source": source, "open_orders": len(open_orders(session, key))})
    return request_id


def ask_by_sms(session: Session, core: Core, phone: str, word: str) -> str:
    """ERASE / FUTA alone: send the number a one-time code to text back (ERASE <code>). An incoming
    SMS is trusted on a path token alone (Africa's Talking signs nothing), so its `from` proves
    nothing: only the code, which goes to that phone, does. At most ASKS_PER_DAY codes a number a day
    (each is an SMS we pay for, and one guess for a forger); beyond that nothing is sent."""
    key = core.vault.phone_key(normalize_msisdn(phone))
    since = db_now(session) - CONFIRM_WITHIN
    asks = session.scalar(select(func.count()).select_from(ErasureRequest).where(
        ErasureRequest.phone_key == key, ErasureRequest.status.in_(CONFIRMING), ErasureRequest.requested_at > since))
    if asks >= ASKS_PER_DAY:
        return "erase_limit"
    request_id = insert_row(session, ErasureRequest, phone_key=key, phone_sealed=None, source="sms",
                            actor=PERSON.name[:12], status=ASKED)
    queue_sms(session, core, phone=normalize_msisdn(phone), kind="erasure_confirm", order_id=None, word=word,
              secret={"code": confirm_code(core, request_id)})
    return "erase_asked"


def confirm_by_sms(session: Session, core: Core, phone: str, code: str) -> str:
    """ERASE <code>: the newest code sent to this number in the last day, compared once (right or
    wrong, it is spent); right, the request is recorded as if asked by SMS (request_by_sms)."""
    key = core.vault.phone_key(normalize_msisdn(phone))
    asked = session.scalar(select(ErasureRequest).where(
        ErasureRequest.phone_key == key, ErasureRequest.status == ASKED,
        ErasureRequest.requested_at > db_now(session) - CONFIRM_WITHIN)
        .order_by(ErasureRequest.id.desc()).limit(1).with_for_update())
    if asked is None:
        return "ignored"
    right = hmac.compare_digest(code.encode(), confirm_code(core, asked.id).encode())
    session.execute(update(ErasureRequest).where(ErasureRequest.id == asked.id, ErasureRequest.status == ASKED)
                    .values(status=USED if right else VOID))
    return request_by_sms(session, core, phone) if right else "erase_wrong"


def confirm_code(core: Core, request_id: int) -> str:
    """Six digits only we can make (SECRET_KEY) for this request; kept nowhere."""
    return f"{int(core.vault.sign(f'erase-confirm:{request_id}')[:12], 16) % 1_000_000:06d}"


def forget_confirmations(session: Session, key: str | None = None) -> None:
    """Confirmation rows keep a number's keyed hash for a day; erasing that number clears its own."""
    stale = ErasureRequest.phone_key == key if key else ErasureRequest.requested_at <= db_now(session) - CONFIRM_WITHIN
    session.execute(update(ErasureRequest).where(ErasureRequest.status.in_(CONFIRMING), ErasureRequest.phone_key
                                                 .is_not(None), stale).values(phone_key=None))


def request_by_sms(session: Session, core: Core, phone: str) -> str:
    """The ERASE / FUTA keyword: record the request and answer in the sender's language, saying
    whether it is done now or when their orders in progress end. Returns the inbound outcome."""
    number = normalize_msisdn(phone)
    request_erasure(session, core, number, source="sms", actor=PERSON, reason="asked by SMS")
    waiting = open_orders(session, core.vault.phone_key(number))
    queue_sms(session, core, phone=number, kind="erasure_later" if waiting else "erasure_now", order_id=None)
    return "erasure"


def erase(db: Database, core: Core, request_id: int, forget: Forget | None, *, actor: Actor,
          wait_for_replies: bool = False, reply_wait_seconds: int = 900) -> Erasure | None:
    """Carry out one pending request if nothing holds it back; None while an answer to the number is
    still on its way (only with `wait_for_replies`)."""
    try:
        with db.transaction() as session:
            request = session.scalar(select(ErasureRequest).where(ErasureRequest.id == request_id,
                                                                  ErasureRequest.status == PENDING).with_for_update())
            if request is None:
                return Erasure(request_id, done=True)
            number, key = core.vault.unseal(request.phone_sealed), request.phone_key
            one_number_at_a_time(session, key)   # orders for it, and its first dials recorded (greeting.py), wait
            waiting = open_orders(session, key)
            if waiting:
                return Erasure(request_id, open_orders=waiting)
            if wait_for_replies and _answer_on_its_way(session, key, reply_wait_seconds):
                return None
            counts = scrub_number(session, core, number)
            forget_confirmations(session, key)
            if open_orders(session, key):   # an order made while this ran: undo it all, try again later
                raise _OrderMeanwhile(open_orders(session, key))
            session.execute(update(ErasureRequest).where(ErasureRequest.id == request_id).values(
                status=DONE, phone_key=None, phone_sealed=None, done_at=utcnow()))
            audit.record(session, actor, "number_erased", target=f"erasure #{request_id}", reason=request.reason,
                         after=dict(sorted(counts.items())))
    except _OrderMeanwhile as meanwhile:
        return Erasure(request_id, open_orders=meanwhile.references)
    counts["redis_keys"] = _forget(forget, number, key)
    return Erasure(request_id, done=True, counts=counts)


class _OrderMeanwhile(Exception):
    def __init__(self, references: list[str]):
        super().__init__("an order was made while the number was being erased")
        self.references = references


def run_pending(db: Database, core: Core, forget: Forget | None, *, reply_wait_seconds: int = 900,
                limit: int = 50) -> int:
    """The worker's step: every pending request whose orders have all ended; how many were erased."""
    still_open = (select(Order.id).where(or_(Order.buyer_key == ErasureRequest.phone_key,
                                             Order.seller_key == ErasureRequest.phone_key),
                                         Order.state.not_in([s.value for s in TERMINAL])).exists())
    with db.transaction() as session:
        forget_confirmations(session)
        ids = list(session.scalars(select(ErasureRequest.id).where(ErasureRequest.status == PENDING, ~still_open)
                                   .order_by(ErasureRequest.id).limit(limit)))
    erased = 0
    for request_id in ids:
        outcome = erase(db, core, request_id, forget, actor=WORKER, wait_for_replies=True,
                        reply_wait_seconds=reply_wait_seconds)
        erased += bool(outcome and outcome.done)
    return erased


def _answer_on_its_way(session: Session, key: str, wait_seconds: int) -> bool:
    """An SMS to the number not yet sent, or sent and its delivery report not yet in (for a while)."""
    since = db_now(session) - timedelta(seconds=wait_seconds)
    return session.scalar(select(SmsMessage.id).where(
        SmsMessage.recipient_key == key,
        or_(SmsMessage.status.in_(IN_FLIGHT), (SmsMessage.status == "sent") & (SmsMessage.updated_at > since)))
        .limit(1)) is not None


def _forget(forget: Forget | None, number: str, key: str) -> int:
    if forget is None:
        return 0
    try:
        return forget(number, key)
    except Exception as error:  # noqa: BLE001 -- the database part is done; Redis keys expire (a day at most)
        log.warning("erasure: Redis not cleaned (%s); its keys expire within a day", type(error).__name__)
        return 0
