"""Money out by B2C: payouts to sellers, refunds and returns to buyers.

A transfer's OriginatorConversationID is minted and stored before the first call and never
changes. A call that may have reached M-Pesa (timeout, worker death) leaves the transfer
'unknown' until a result or a Transaction Status query settles it: it is never re-sent.

Its answers (the B2C result, a status query's result, their queue timeouts) come to URLs that
name the transfer and carry a tag only we can make (`transfer_reply`): the callback token alone
cannot settle it (escrow/transfer_answers.py, reliability.md X1)."""
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow import ledger, outbox
from escrow.context import Core
from escrow.db import Database, db_now, insert_row, utcnow
from escrow.findings import close_finding, record_finding
from escrow.ledger import credit, debit
from escrow.models import Order, Payout
from escrow.phone import mask
from escrow.ports import GatewayError, PaymentGateway
from escrow.writes import insert_values, write_at_commit

IN_FLIGHT = ("sending", "sent", "unknown")
# A transfer we had given up on (failed, and retried) that M-Pesa later reported paid: money out
# twice for one order. Outside the one-live index, so recording it never breaks "one payout we
# initiate per order"; its money sits in ledger.OVERPAID until recovered.
DOUBLE_PAID = "double_paid"
SUPERSEDED = "superseded"   # a retry's result code when what it replaced was paid after all: never sent
# Which liability a confirmed transfer settles.
SETTLES = {"payout": ledger.SELLER_PAYABLE, "refund": ledger.REFUNDS_PAYABLE, "return": ledger.REFUNDS_PAYABLE}
# What a transfer's answer URL answers: the kind signed into its tag.
RESULT, STATUS = "b2c_result", "b2c_status"


@dataclass(frozen=True)
class PayoutResult:
    """A B2C outcome, from its result callback or a status query, in the core's words."""
    originator_id: str | None
    conversation_id: str | None
    succeeded: bool
    result_code: str
    description: str
    receipt: str | None = None
    amount: int | None = None


def queue_transfer(session: Session, core: Core, order: Order, *, purpose: str, amount: int, phone: str,
                   tag: str | None = None) -> int:
    """Record the transfer with its permanent originator id, and the outbox row to send it."""
    payout_id = insert_row(session, Payout, **_transfer(core, order, purpose, amount, phone, tag))
    outbox.enqueue_at_commit(session, outbox.PAYOUT, payout_id, due_at=db_now(session))
    return payout_id


def queue_transfer_at_commit(session: Session, core: Core, order: Order, *, purpose: str, amount: int,
                             phone: str) -> None:
    """queue_transfer for a caller that needs no transfer id: the transfer and its outbox row wait and go
    in one statement with the unit of work's other waiting writes, just before it commits
    (escrow/writes.py). The one-live-transfer index still refuses a second one, at the commit."""
    row = _transfer(core, order, purpose, amount, phone, None)
    write_at_commit(session, insert_values(Payout, **row).returning(Payout.id),
                    then=outbox.for_each_new(outbox.PAYOUT, due_at=db_now(session)))


def _transfer(core: Core, order: Order, purpose: str, amount: int, phone: str, tag: str | None) -> dict:
    originator_id = f"Z{order.reference}{purpose[0].upper()}{tag or secrets.token_hex(5)}"
    return dict(order_id=order.id, purpose=purpose, amount=amount, recipient_sealed=core.vault.seal(phone),
                status="queued", originator_conversation_id=originator_id)


def send_transfer(db: Database, core: Core, gateway: PaymentGateway, payout_id: int) -> str:
    """Worker step for one transfer; see the module docstring for the never-re-send rule."""
    with db.transaction() as session:
        payout = session.get(Payout, payout_id)
        if payout.status == "sending":
            _mark_unknown(session, core, payout_id, "sending", "worker stopped mid-call")
            return "unknown"
        if payout.status != "queued":
            return payout.status
        if not _set(session, payout_id, ("queued",), status="sending"):
            return _status_now(session, payout_id)   # changed since it was read: a retry cancelled, never sent
        reference = session.get(Order, payout.order_id).reference
        request = dict(originator_id=payout.originator_conversation_id, amount=payout.amount,
                       phone=core.vault.unseal(payout.recipient_sealed), remarks=f"Zemi order {reference}",
                       reply_to=transfer_reply(core, RESULT, payout_id, payout.originator_conversation_id))
    try:
        accepted = gateway.send_payout(**request)
    except GatewayError as error:
        return _record_send_failure(db, core, payout_id, error)
    with db.transaction() as session:
        _set(session, payout_id, ("sending",), status="sent", conversation_id=accepted.conversation_id)
    return "sent"


def _record_send_failure(db: Database, core: Core, payout_id: int, error: GatewayError) -> str:
    with db.transaction() as session:
        if error.ambiguous:
            _mark_unknown(session, core, payout_id, "sending", str(error))
            return "unknown"
        if error.retryable:  # surely never reached M-Pesa: safe to send again later, unless no longer needed
            earlier = _paid_before(session, session.get(Payout, payout_id))
            if earlier is not None:   # what it replaced was paid meanwhile
                _set(session, payout_id, ("sending",), status="failed", result_code=SUPERSEDED,
                     result_desc=f"not sent: {earlier.originator_conversation_id} was paid after all")
                return "failed"
            _set(session, payout_id, ("sending",), status="queued", result_desc=str(error)[:200])
        else:
            _set(session, payout_id, ("sending",), status="failed", result_desc=str(error)[:200])
    if error.retryable:
        raise error
    return "failed"


def _mark_unknown(session: Session, core: Core, payout_id: int, expected: str, why: str) -> None:
    if _set(session, payout_id, (expected,), status="unknown", result_desc=why[:200]):
        schedule_status_check(session, core, payout_id)


def schedule_status_check(session: Session, core: Core, payout_id: int, round_: int = 1) -> None:
    now = db_now(session)
    delay = timedelta(seconds=core.settings.b2c_query_after_seconds * round_)
    outbox.enqueue(session, outbox.PAYOUT_STATUS, payout_id, due_at=now + delay,
                   dedupe_key=f"{outbox.PAYOUT_STATUS}:{payout_id}:{round_}")


def check_transfer_status(db: Database, core: Core, gateway: PaymentGateway, payout_id: int) -> str:
    """Worker step: ask M-Pesa about a transfer still unsettled, or one we hold as failed (an
    unverified success for it asked for this check: escrow.transfer_answers); the answer comes to
    the transfer's own tagged status URL."""
    with db.transaction() as session:
        payout = session.get(Payout, payout_id)
        if payout.status not in IN_FLIGHT + ("failed",):
            return payout.status
        originator_id = payout.originator_conversation_id
    gateway.query_payout(originator_id=originator_id, reply_to=transfer_reply(core, STATUS, payout_id, originator_id))
    return "queried"


def transfer_reply(core: Core, kind: str, payout_id: int, originator_id: str) -> str:
    """`<id>/<tag>` for the end of a transfer's result URL: the tag signs (SECRET_KEY) what the URL
    answers, the transfer's id and its originator id. Hex, so Daraja's URL word filter never bites."""
    return f"{payout_id}/{core.vault.sign(f'daraja-reply:{kind}:{payout_id}:{originator_id}')[:32]}"


def transfer_reply_is_ours(core: Core, kind: str, payout_id: int, originator_id: str, tag: str) -> bool:
    return hmac.compare_digest(transfer_reply(core, kind, payout_id, originator_id).encode(),
                               f"{payout_id}/{tag}".encode())


def _status_now(session: Session, payout_id: int) -> str:
    """What the transfer's row says now (read again: the one the session holds was read before it changed)."""
    return session.scalar(select(Payout.status).where(Payout.id == payout_id))


def _set(session: Session, payout_id: int, expected: tuple[str, ...], **values) -> bool:
    return bool(session.execute(
        update(Payout).where(Payout.id == payout_id, Payout.status.in_(expected))
        .values(updated_at=utcnow(), **values)).rowcount)


def find_transfer(session: Session, result: PayoutResult) -> Payout | None:
    if result.originator_id:
        found = session.scalar(select(Payout).where(Payout.originator_conversation_id == result.originator_id))
        if found:
            return found
    if result.conversation_id:
        return session.scalar(select(Payout).where(Payout.conversation_id == result.conversation_id))
    return None


def settle_transfer(session: Session, payout: Payout, result: PayoutResult, core: Core | None = None) -> str:
    """Apply a definite result once: 'succeeded', 'failed', 'duplicate', or (with a finding)
    'short_paid', 'double_paid' or 'review'. What M-Pesa says was paid is what the ledger records."""
    if result.succeeded:
        return _record_success(session, core, payout, result)
    won = _set(session, payout.id, IN_FLIGHT, status="failed", result_code=result.result_code,
               result_desc=result.description[:200])
    return "failed" if won else "duplicate"


def _record_success(session: Session, core: Core | None, payout: Payout, result: PayoutResult) -> str:
    if payout.status in ("succeeded", DOUBLE_PAID):
        return "duplicate"
    if result.receipt and session.scalar(select(Payout.id).where(Payout.receipt == result.receipt,
                                                                 Payout.id != payout.id)):
        record_finding(session, f"payout-receipt-reused:{payout.id}", order_id=payout.order_id,
                       summary=f"{payout.purpose} {payout.originator_conversation_id} reported paid with receipt "
                               f"{result.receipt}, which another transfer already has; not settled (forged or "
                               f"misrouted result?)", receipt=result.receipt,
                       originator_id=payout.originator_conversation_id)
        return "review"
    paid = payout.amount if result.amount is None else result.amount
    if payout.status == "failed":
        live = _live_sibling(session, payout)
        if live is not None and not _cancel_if_unsent(session, live, payout):
            return _record_double_payment(session, core, payout, live, result, paid)
    won = _set(session, payout.id, ("queued",) + IN_FLIGHT + ("failed",), status="succeeded",
               receipt=result.receipt, result_code=result.result_code, result_desc=result.description[:200])
    if not won:
        return "duplicate"
    _post_paid(session, payout, paid, result.receipt)
    if paid == payout.amount:
        return "succeeded"
    _flag_other_amount(session, core, payout, paid, result.receipt)
    return "succeeded" if paid > payout.amount else "short_paid"


def _post_paid(session: Session, payout: Payout, paid: int, receipt: str | None) -> None:
    """Cash out is what M-Pesa paid; it settles what we owed, and any excess is owed back to us."""
    settled = min(paid, payout.amount)
    lines = [debit(SETTLES[payout.purpose], settled), credit(ledger.MPESA_CASH, paid)]
    if paid > settled:
        lines.append(debit(ledger.OVERPAID, paid - settled))
    ledger.post(session, kind=payout.purpose, dedupe_key=f"out:{payout.id}", order_id=payout.order_id,
                lines=lines, memo=f"receipt {receipt}" + (f", paid {paid} of {payout.amount}" if paid != payout.amount
                                                          else ""))


def _flag_other_amount(session: Session, core: Core | None, payout: Payout, paid: int, receipt: str | None) -> None:
    if paid < payout.amount:
        what = (f"KES {payout.amount - paid:,} is still owed and the order stays open: pay the difference by hand, "
                f"then resolve this finding")
    else:
        what = (f"KES {paid - payout.amount:,} more than owed went out (ledger: overpaid): recover it with "
                f"Daraja's Reversal on TransactionID {receipt} and pay again, or from the recipient")
    record_finding(session, f"payout-amount-mismatch:{payout.id}", order_id=payout.order_id,
                   summary=f"{payout.purpose} {payout.originator_conversation_id} was sent for KES "
                           f"{payout.amount:,} but M-Pesa reports KES {paid:,} paid (receipt {receipt}); {what}",
                   expected=payout.amount, paid=paid, receipt=receipt, recipient=_recipient(core, payout))


def _live_sibling(session: Session, payout: Payout) -> Payout | None:
    """The transfer that replaced a failed one (the one-live index allows at most one)."""
    if payout.purpose not in ("payout", "refund"):
        return None
    return session.scalar(select(Payout).where(Payout.order_id == payout.order_id, Payout.purpose == payout.purpose,
                                               Payout.id != payout.id, Payout.status.not_in(("failed", DOUBLE_PAID))))


def _cancel_if_unsent(session: Session, live: Payout, paid: Payout) -> bool:
    """A retry not yet sent is cancelled: the first attempt paid after all."""
    return _set(session, live.id, ("queued",), status="failed", result_code=SUPERSEDED,
                result_desc=f"not sent: {paid.originator_conversation_id} was paid after all")


def _paid_before(session: Session, payout: Payout) -> Payout | None:
    """Another transfer for the same order and purpose that M-Pesa paid (settled, or booked as a double
    payment while this one was out)."""
    if payout.purpose not in ("payout", "refund"):
        return None
    return session.scalar(select(Payout).where(Payout.order_id == payout.order_id, Payout.purpose == payout.purpose,
                                               Payout.id != payout.id, Payout.status.in_(("succeeded", DOUBLE_PAID))))


def take_earlier_payment(session: Session, core: Core | None, failed: Payout) -> tuple[Payout, int] | None:
    """`failed` replaced a transfer that M-Pesa then reported paid late, booked as a double payment on
    the word that `failed` was out and might pay too; `failed` did not pay (it failed, or never left).
    So the earlier payment settles what both were for after all: it becomes 'succeeded', its money moves
    from overpaid to what it settles, and its double-payment finding (which asked for a Reversal) is
    closed. Returns (that transfer, the amount paid), or None when nothing is to be taken."""
    if failed.purpose not in ("payout", "refund"):
        return None
    transfers = session.scalars(select(Payout).where(Payout.order_id == failed.order_id,
                                                     Payout.purpose == failed.purpose)
                                .with_for_update().execution_options(populate_existing=True)).all()
    if any(transfer.id == failed.id and transfer.status != "failed" for transfer in transfers):
        return None   # answered meanwhile (reported paid after all): nothing to take
    others = [transfer for transfer in transfers if transfer.id != failed.id]
    earlier = [other for other in others if other.status == DOUBLE_PAID]
    if len(earlier) != 1 or any(other.status not in ("failed", DOUBLE_PAID) for other in others):
        return None   # none, or another transfer is out, or one settled it
    earlier = earlier[0]
    paid = ledger.posted(session, f"out:{earlier.id}", ledger.OVERPAID)
    if not paid or not _set(session, earlier.id, (DOUBLE_PAID,), status="succeeded",
                            result_desc=f"paid; {failed.originator_conversation_id}, sent in its place, "
                                        f"was not"[:200]):
        return None
    settled = min(paid, earlier.amount)
    ledger.post(session, kind="double_payment_void", dedupe_key=f"settles:{earlier.id}", order_id=earlier.order_id,
                lines=[debit(SETTLES[earlier.purpose], settled), credit(ledger.OVERPAID, settled)],
                memo=f"receipt {earlier.receipt} settles it: {failed.originator_conversation_id} did not pay")
    close_finding(session, f"double-payment:{earlier.id}",
                  f"no Reversal: {failed.originator_conversation_id}, sent in its place, did not pay "
                  f"({failed.result_code or 'failed'}), so receipt {earlier.receipt} settles the {earlier.purpose}")
    if paid != earlier.amount:
        _flag_other_amount(session, core, earlier, paid, earlier.receipt)
    return earlier, paid


def _record_double_payment(session: Session, core: Core | None, payout: Payout, live: Payout, result: PayoutResult,
                           paid: int) -> str:
    """M-Pesa paid a transfer we had retried: record the money truthfully (owed back to us) and
    flag it with what a Reversal needs. Never a second live payout row: it is 'double_paid'."""
    failed_with = payout.result_code   # read before the update below refreshes it
    if not _set(session, payout.id, ("failed",), status=DOUBLE_PAID, receipt=result.receipt,
                result_code=result.result_code, result_desc=f"paid after {live.originator_conversation_id} "
                                                            f"replaced it"[:200]):
        return "duplicate"
    ledger.post(session, kind="double_payment", dedupe_key=f"out:{payout.id}", order_id=payout.order_id,
                lines=[debit(ledger.OVERPAID, paid), credit(ledger.MPESA_CASH, paid)], memo=f"receipt {result.receipt}")
    recipient = _recipient(core, payout)
    state = "was also paid" if live.status == "succeeded" else f"is {live.status} (it may be paid too)"
    record_finding(session, f"double-payment:{payout.id}", order_id=payout.order_id,
                   summary=f"double payment: {payout.purpose} {payout.originator_conversation_id} failed "
                           f"({failed_with}) and was re-sent as {live.originator_conversation_id}, which "
                           f"{state}; M-Pesa now reports the first paid too: KES {paid:,} to {recipient}, "
                           f"TransactionID {result.receipt}. Recover it with Daraja's Reversal on that "
                           f"TransactionID", receipt=result.receipt, amount=paid, recipient=recipient,
                   originator_id=payout.originator_conversation_id, other_originator_id=live.originator_conversation_id)
    return DOUBLE_PAID


def _recipient(core: Core | None, payout: Payout) -> str:
    return mask(core.vault.unseal(payout.recipient_sealed)) if core is not None else "(sealed)"


def record_transfer_timeout(session: Session, core: Core, result: PayoutResult) -> str:
    """M-Pesa's queue timed out: the outcome is unknown until a status query answers."""
    payout = find_transfer(session, result)
    if payout is None:
        return "orphan"
    return time_out_transfer(session, core, payout.id)


def time_out_transfer(session: Session, core: Core, payout_id: int) -> str:
    if _set(session, payout_id, ("sending", "sent"), status="unknown", result_desc="queue timeout"):
        schedule_status_check(session, core, payout_id)
        return "unknown"
    return "duplicate"
