"""Double-entry ledger: debits positive, credits negative, every entry sums to zero.

Accounts (balances are debit-positive):
  mpesa_cash       asset: money on our M-Pesa shortcodes. Facts post here; the statement pass then
                   attributes each to its shortcode's own account, mpesa_cash:<shortcode>
                   (escrow/statement/shortcode_cash.py). balance(mpesa_cash) is the total of all of them.
  mpesa_charges    expense: M-Pesa's own charges (B2C transfer charges and the like), from the statement
  mpesa_transfers  clearing: money moved between a shortcode and the bank or owner (sweeps out, top-ups in)
  escrow_held      liability, per order: the buyer's money while it waits for delivery
  seller_payable   liability: released to a seller, payout not yet confirmed
  refunds_payable  liability: owed back to a buyer, refund not yet confirmed
  fee_revenue      income: our fees
  suspense         liability: money in that matches nothing we asked for
  overpaid         asset: paid out beyond what was owed (a double payment, a result for more than we
                   sent), to be recovered (Daraja's Reversal) or written off; each has a finding
"""
from dataclasses import dataclass

from sqlalchemy import func, insert, literal, select, union_all
from sqlalchemy.orm import Session

from escrow.db import insert_new
from escrow.errors import EscrowError
from escrow.models import JournalEntry, Posting
from escrow.writes import Then, insert_once_values, write_at_commit

MPESA_CASH = "mpesa_cash"
ESCROW_HELD = "escrow_held"
SELLER_PAYABLE = "seller_payable"
REFUNDS_PAYABLE = "refunds_payable"
FEE_REVENUE = "fee_revenue"
SUSPENSE = "suspense"
OVERPAID = "overpaid"
MPESA_CHARGES = "mpesa_charges"
MPESA_TRANSFERS = "mpesa_transfers"
ACCOUNTS = (MPESA_CASH, ESCROW_HELD, SELLER_PAYABLE, REFUNDS_PAYABLE, FEE_REVENUE, SUSPENSE, OVERPAID,
            MPESA_CHARGES, MPESA_TRANSFERS)
CASH_PREFIX = MPESA_CASH + ":"


def cash_account(shortcode: str) -> str:
    """One shortcode's own cash account (a part of mpesa_cash)."""
    if not (str(shortcode).isascii() and str(shortcode).isdigit() and 4 <= len(str(shortcode)) <= 10):
        raise UnbalancedEntry(f"not a shortcode: {str(shortcode)[:12]!r}")
    return CASH_PREFIX + str(shortcode)


def _known(account: str) -> bool:
    return account in ACCOUNTS or (account.startswith(CASH_PREFIX) and account[len(CASH_PREFIX):].isdigit())


class UnbalancedEntry(EscrowError):
    pass


@dataclass(frozen=True)
class Line:
    account: str
    amount: int  # debit positive, credit negative


def debit(account: str, amount: int) -> Line:
    return Line(account, amount)


def credit(account: str, amount: int) -> Line:
    return Line(account, -amount)


def post(session: Session, *, kind: str, dedupe_key: str, order_id: int | None, lines: list[Line],
         memo: str | None = None) -> bool:
    """Post a balanced entry once. Returns False (posting nothing) if `dedupe_key` was posted before."""
    _check_balanced(lines)
    entry_id = insert_new(session, JournalEntry, kind=kind, dedupe_key=dedupe_key, order_id=order_id, memo=memo)
    if entry_id is None:
        return False
    session.execute(insert(Posting), [{"entry_id": entry_id, "account": line.account, "order_id": order_id,
                                       "amount": line.amount} for line in lines])
    return True


def post_at_commit(session: Session, *, kind: str, dedupe_key: str, order_id: int | None, lines: list[Line],
                   memo: str | None = None) -> None:
    """post, for a caller that needs no answer: the entry and its postings wait and go in one
    statement with the unit of work's other waiting writes, just before it commits (escrow/writes.py).
    The dedupe key still decides: an entry posted before yields no new id, so no postings."""
    _check_balanced(lines)
    entry = insert_once_values(session, JournalEntry, kind=kind, dedupe_key=dedupe_key, order_id=order_id,
                               memo=memo).returning(JournalEntry.id)
    columns = Posting.__table__.c

    def postings(new):
        return insert(Posting).from_select(["entry_id", "account", "order_id", "amount"], union_all(*[
            select(new.c.id, literal(line.account, columns.account.type), literal(order_id, columns.order_id.type),
                   literal(line.amount, columns.amount.type)) for line in lines]))
    write_at_commit(session, entry, then=Then(Posting.__table__, postings))


def _check_balanced(lines: list[Line]) -> None:
    if any(not isinstance(line.amount, int) or isinstance(line.amount, bool) for line in lines):
        raise UnbalancedEntry("ledger amounts must be int")
    if any(not _known(line.account) for line in lines):
        raise UnbalancedEntry("unknown ledger account")
    if sum(line.amount for line in lines) != 0:
        raise UnbalancedEntry(f"entry does not balance: {lines}")


def balance(session: Session, account: str, order_id: int | None = None) -> int:
    """An account's balance; for mpesa_cash, all cash: its own postings and every shortcode's account."""
    where = Posting.account == account
    if account == MPESA_CASH:
        where = where | Posting.account.like(CASH_PREFIX + "%")
    query = select(func.coalesce(func.sum(Posting.amount), 0)).where(where)
    if order_id is not None:
        query = query.where(Posting.order_id == order_id)
    return int(session.scalar(query))


def posted(session: Session, dedupe_key: str, account: str) -> int:
    """What the entry posted once under `dedupe_key` put on `account` (0 if there is no such entry)."""
    return int(session.scalar(select(func.coalesce(func.sum(Posting.amount), 0))
                              .join(JournalEntry, Posting.entry_id == JournalEntry.id)
                              .where(JournalEntry.dedupe_key == dedupe_key, Posting.account == account)))


def held_for(session: Session, order_id: int) -> int:
    """What the escrow holds for one order, as a positive number."""
    return -balance(session, ESCROW_HELD, order_id)
