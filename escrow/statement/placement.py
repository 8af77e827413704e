"""Our own facts placed on the shortcode the money moved on (issue 12; see shortcode_cash.py).

Money in, B2C transfers and Reversals post to `mpesa_cash` where they happen. Each statement run
then places every such entry not yet placed on `mpesa_cash:<shortcode>` with an entry of its own
(kind `cash_allocation`, dedupe key `cash:<entry id>`: once, whoever runs it, however often):
- money in (`in:<receipt>`): the shortcode whose statement line it matched, else the shortcode
  of its channel (STK or paybill);
- a B2C transfer (`out:<payout id>`): the B2C shortcode;
- a Reversal (`reversal:<id>`): where the payment it reversed landed.
An entry of any other kind, or one whose shortcode cannot be told, stays on `mpesa_cash`
(`flask ledger check` says how much). Set-based, BATCH entries a statement, and each pass looks
only from MARGIN entries below the last one placed, so its cost follows what is new, not the
ledger's size.
"""
from collections import defaultdict

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.models import JournalEntry, Payout, PaymentReceived, Posting, Reversal, StatementLine

ALLOCATION = "cash_allocation"
BATCH = 500
MARGIN = 2_000    # entries below the last one placed that are looked at again (ids taken before, committed after)


def allocate_cash(session: Session, roles: dict[str, str]) -> dict[str, int]:
    """Place every entry on `mpesa_cash` not placed yet; `roles` maps 'stk', 'paybill' and 'b2c' to
    shortcodes. Returns {'allocated': n, 'unplaced': n}."""
    counts, after = {"allocated": 0, "unplaced": 0}, _start(session)
    while True:
        rows = session.execute(
            select(JournalEntry.id, JournalEntry.dedupe_key, func.sum(Posting.amount))
            .join(Posting, Posting.entry_id == JournalEntry.id)
            .where(Posting.account == ledger.MPESA_CASH, JournalEntry.kind != ALLOCATION,
                   JournalEntry.id > after, Posting.entry_id > after)
            .group_by(JournalEntry.id, JournalEntry.dedupe_key).order_by(JournalEntry.id).limit(BATCH)).all()
        if rows:
            after = rows[-1][0]
            placed = set(session.scalars(select(JournalEntry.dedupe_key).where(   # by the unique index
                JournalEntry.dedupe_key.in_([f"cash:{entry_id}" for entry_id, _, _ in rows]))))
            batch = [row for row in rows if f"cash:{row[0]}" not in placed and row[2]]
            codes = _shortcodes(session, [key for _, key, _ in batch], roles)
            moves = [(entry_id, key, codes[key], int(amount)) for entry_id, key, amount in batch if codes.get(key)]
            counts["unplaced"] += len(batch) - len(moves)
            counts["allocated"] += _post(session, moves)
        if len(rows) < BATCH:
            return counts


def _start(session: Session) -> int:
    """Where to look from: MARGIN entries below the last entry placed (every pass places in id
    order). An entry older than that which could not be placed then (a kind not known here) is
    not looked at again: `flask ledger check` keeps showing it as cash not attributed."""
    last = session.scalar(select(JournalEntry.dedupe_key).where(JournalEntry.kind == ALLOCATION)
                          .order_by(JournalEntry.id.desc()).limit(1))
    placed = (last or "").partition(":")[2]
    return max(0, int(placed) - MARGIN) if placed.isdigit() else 0


def _post(session: Session, moves: list[tuple[int, str, str, int]]) -> int:
    """One entry per move (Dr mpesa_cash:<code>, Cr mpesa_cash: balanced by construction), in two
    statements; an entry another pass placed meanwhile is skipped by its dedupe key."""
    if not moves:
        return 0
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    rows = [{"kind": ALLOCATION, "dedupe_key": f"cash:{entry_id}", "order_id": None,
             "memo": f"entry {entry_id} ({key[:40]}) on {code}"} for entry_id, key, code, _ in moves]
    new = dict(session.execute(module.insert(JournalEntry).on_conflict_do_nothing()
                               .returning(JournalEntry.dedupe_key, JournalEntry.id), rows).all())
    postings = []
    for entry_id, _, code, amount in moves:
        allocation_id = new.get(f"cash:{entry_id}")
        if allocation_id is not None:
            postings += [{"entry_id": allocation_id, "account": ledger.cash_account(code), "order_id": None,
                          "amount": amount},
                         {"entry_id": allocation_id, "account": ledger.MPESA_CASH, "order_id": None,
                          "amount": -amount}]
    if postings:
        session.execute(insert(Posting), postings)
    return len(new)


def _shortcodes(session: Session, keys: list[str], roles: dict[str, str]) -> dict[str, str]:
    """{dedupe key: shortcode} for the entries whose shortcode can be told."""
    by_prefix = defaultdict(list)
    for key in keys:
        prefix, _, rest = key.partition(":")
        by_prefix[prefix].append(rest)
    reversal_ids = [int(k) for k in by_prefix["reversal"] if k.isdigit()]
    reversals = dict(session.execute(select(Reversal.id, Reversal.trans_id).where(
        Reversal.id.in_(reversal_ids))).all()) if reversal_ids else {}
    landed = _landed(session, by_prefix["in"] + list(reversals.values()), roles)
    codes = {f"in:{receipt}": landed.get(receipt) for receipt in by_prefix["in"]}
    codes |= {f"reversal:{rid}": landed.get(trans_id) for rid, trans_id in reversals.items()}
    payout_ids = [int(k) for k in by_prefix["out"] if k.isdigit()]
    paid = set(session.scalars(select(Payout.id).where(Payout.id.in_(payout_ids)))) if payout_ids else set()
    codes |= {f"out:{pid}": roles.get("b2c") for pid in paid}
    return {key: code for key, code in codes.items() if code}


def _landed(session: Session, receipts: list[str], roles: dict[str, str]) -> dict[str, str]:
    """{receipt: the shortcode a payment landed on}: its statement line's, else its channel's."""
    if not receipts:
        return {}
    payments = session.execute(select(PaymentReceived.id, PaymentReceived.receipt, PaymentReceived.channel)
                               .where(PaymentReceived.receipt.in_(receipts))).all()
    lines = dict(session.execute(select(StatementLine.payment_id, func.min(StatementLine.shortcode)).where(
        StatementLine.payment_id.in_([pid for pid, _, _ in payments]), StatementLine.amount > 0)
        .group_by(StatementLine.payment_id)).all())
    return {receipt: lines.get(pid) or roles.get(channel) for pid, receipt, channel in payments}


def roles_of(source) -> dict[str, str]:
    """{'stk'|'paybill'|'b2c': shortcode} from the gateway (statement and balance shortcodes)."""
    roles = {channel: code for code, channels in source.statement_shortcodes().items() for channel in channels}
    balance_codes = getattr(source, "balance_shortcodes", None)
    for code, role in (balance_codes() if balance_codes else {}).items():
        if role == "b2c":
            roles["b2c"] = code
    return roles
