"""Each shortcode's cash in the ledger, equal to its balance at M-Pesa (issue 12).

The ledger keeps one cash account per shortcode, `mpesa_cash:<shortcode>`. Two things fill it:

- Our own facts (money in, payouts, refunds, reversals) post to `mpesa_cash` where they happen;
  each statement pass then places every such entry on the shortcode the money moved on
  (escrow/statement/placement.py).
- The shortcode's own movements that are not orders, read from its statement (the org portal's
  export: Pull Transactions carries customer payments only), are posted once per statement line
  (dedupe key `movement:<line id>`; a line is kept once per shortcode, receipt and kind):
    charge      (M-Pesa's charge for a transfer)  Dr mpesa_charges    Cr mpesa_cash:<code>
    sweep       (money out to the bank or another
                 shortcode: withdrawal, transfer)  Dr mpesa_transfers  Cr mpesa_cash:<code>
    top-up      (money in that is not a customer's
                 payment: funds transfer, deposit)  Dr mpesa_cash:<code> Cr mpesa_transfers
  A reversal line that is one of our own Reversals (succeeded, same amount, within a day, one
  candidate only) is matched to it: its result already took the money off the books. Any other
  reversal, and a line of no kind we know, is a finding and is not posted: a movement we cannot
  name is for a person to judge.
  `mpesa_transfers` is what went to the bank less what came from it (or from the owner): an
  operator checks it against the bank statement.

`cash_notes` compares each shortcode's account with the latest Account Balance answer (the sum of
its accounts, the Charges Paid Account left out [?]) for `flask ledger check`.
"""
import re
from datetime import timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.findings import record_finding
from escrow.models import AccountBalance, PaymentReceived, Posting, Reversal, StatementLine
from escrow.statement.runs import StatementEntry

MOVEMENT = "shortcode_movement"
CHARGE, SWEEP, TOPUP, REVERSAL = "charge", "sweep", "top-up", "reversal"
_CHARGE = re.compile(r"charge|commission|fee", re.I)
_REVERSAL = re.compile(r"revers", re.I)
_TRANSFER = re.compile(r"transfer|withdraw|bank|settle|sweep|deposit|top ?up|float|funds|adjust", re.I)
NOT_IN_BALANCE = ("Charges Paid Account",)   # it records charges paid; not money on hand [?]


# --- the shortcode's own movements, from its statement -----------------------------------------

def classify(entry: StatementEntry) -> str | None:
    """charge, sweep, top-up, reversal, or None (a movement we cannot name)."""
    kind = entry.kind or ""
    if _REVERSAL.search(kind):
        return REVERSAL
    if _CHARGE.search(kind) and entry.amount < 0:
        return CHARGE
    if _TRANSFER.search(kind):
        return SWEEP if entry.amount < 0 else TOPUP if entry.amount > 0 else None
    return None


def post_movement(session: Session, entry: StatementEntry, line_id: int) -> str:
    """Post one own-movement line of the statement: 'posted' (or 'known' if it was), or 'finding'."""
    what = classify(entry)
    cash = ledger.cash_account(entry.shortcode)
    amount = abs(entry.amount)
    if what == CHARGE:
        lines = [ledger.debit(ledger.MPESA_CHARGES, amount), ledger.credit(cash, amount)]
    elif what == SWEEP:
        lines = [ledger.debit(ledger.MPESA_TRANSFERS, amount), ledger.credit(cash, amount)]
    elif what == TOPUP:
        lines = [ledger.debit(cash, amount), ledger.credit(ledger.MPESA_TRANSFERS, amount)]
    elif what == REVERSAL and _link_our_reversal(session, entry, line_id):
        return "matched"     # a Reversal we asked for: its result already took the money off our books
    else:
        why = ("a reversal we did not ask for (or cannot tell apart from another of the same amount)"
               if what == REVERSAL else "a movement of no kind we know")
        record_finding(session, f"statement-movement:{line_id}", order_id=None,
                       summary=f"{entry.shortcode}'s statement shows {entry.kind!r} {entry.receipt} of KES "
                               f"{entry.amount:,}, not posted: {why}; the shortcode's cash and M-Pesa's balance "
                               f"differ by it until a person posts or explains it",
                       receipt=entry.receipt, amount=entry.amount, shortcode=entry.shortcode)
        return "finding"
    ledger.post(session, kind=MOVEMENT, dedupe_key=f"movement:{line_id}", order_id=None, lines=lines,
                memo=f"{what} {entry.receipt} on {entry.shortcode} ({entry.kind})"[:200])
    return "posted"


def post_opening_balance(session: Session, shortcode: str, amount: int) -> bool:
    """What a shortcode held before Zemi's books began (`flask mpesa opening-balance`), once per
    shortcode: Dr mpesa_cash:<code>, Cr mpesa_transfers (money the owner put there). False if posted before."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ledger.UnbalancedEntry("an opening balance is a whole number of KES, not negative")
    cash = ledger.cash_account(shortcode)
    return ledger.post(session, kind=MOVEMENT, dedupe_key=f"opening:{shortcode}", order_id=None,
                       lines=[ledger.debit(cash, amount), ledger.credit(ledger.MPESA_TRANSFERS, amount)],
                       memo=f"opening balance of {shortcode}")


def _link_our_reversal(session: Session, entry: StatementEntry, line_id: int) -> bool:
    """A reversal line is ours when exactly one Reversal we asked for succeeded, for that amount,
    within a day of it, and no other reversal line took it; the line is then linked to the payment
    that was reversed (its payment_id), which is how the next one knows it is taken."""
    taken = exists().where(StatementLine.payment_id == PaymentReceived.id, StatementLine.amount < 0)
    candidates = session.execute(select(PaymentReceived.id).join(
        Reversal, Reversal.trans_id == PaymentReceived.receipt).where(
        Reversal.status == "succeeded", Reversal.amount == -entry.amount,
        Reversal.updated_at.between(entry.at - timedelta(days=1), entry.at + timedelta(days=1)), ~taken)
        .limit(2)).scalars().all()
    if len(candidates) != 1:
        return False
    session.execute(update(StatementLine).where(StatementLine.id == line_id).values(payment_id=candidates[0]))
    return True


# --- the comparison, for `flask ledger check` ----------------------------------------------------

def cash_by_shortcode(session: Session) -> dict[str, int]:
    rows = session.execute(select(Posting.account, func.sum(Posting.amount)).where(
        Posting.account.like(ledger.CASH_PREFIX + "%")).group_by(Posting.account)).all()
    return {account[len(ledger.CASH_PREFIX):]: int(amount) for account, amount in rows}


def mpesa_balance(session: Session, shortcode: str) -> tuple[int, object] | None:
    """(KES on hand, when stored) from the latest answer for each of `shortcode`'s accounts, or None."""
    latest = select(func.max(AccountBalance.id)).where(AccountBalance.shortcode == shortcode).group_by(
        AccountBalance.account)
    rows = list(session.scalars(select(AccountBalance).where(AccountBalance.id.in_(latest))))
    if not rows:
        return None
    cents = sum(row.available_cents for row in rows if row.account not in NOT_IN_BALANCE)
    return cents // 100, max(row.created_at for row in rows)


def cash_notes(session: Session) -> list[str]:
    codes = cash_by_shortcode(session)
    answered = set(session.scalars(select(AccountBalance.shortcode).distinct()))
    notes = []
    for code in sorted(set(codes) | answered):
        ours, theirs = codes.get(code, 0), mpesa_balance(session, code)
        if theirs is None:
            notes.append(f"cash {code}: ledger KES {ours:,}; no balance answer from M-Pesa yet (flask mpesa balance)")
            continue
        at_mpesa, at = theirs
        verdict = "agrees" if at_mpesa == ours else (
            f"DIFFERS by KES {at_mpesa - ours:,} (statement findings name what is not posted; movements after "
            f"the answer or not yet reconciled explain the rest)")
        notes.append(f"cash {code}: ledger KES {ours:,}, M-Pesa KES {at_mpesa:,} at {at:%Y-%m-%d %H:%M} UTC: {verdict}")
    unplaced = ledger.balance(session, ledger.MPESA_CASH) - sum(codes.values())
    if unplaced:
        notes.append(f"cash not yet attributed to a shortcode: KES {unplaced:,} (the next statement pass does it)")
    return notes
