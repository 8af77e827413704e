"""The M-Pesa org portal's statement export (CSV), for windows Pull Transactions no longer reaches
(it keeps about 48 hours) or gaps: `flask reconcile statement --csv FILE --shortcode CODE`.

Columns are found by name (case and punctuation ignored): Receipt No., Completion Time, Details,
Transaction Status, Paid In, Withdrawn, Reason Type, Other Party Info, A/C No. [?: taken from public
parsers of the export, not from a Safaricom document; see docs/mpesa-statement.md]. Only completed
rows count; a row is a customer's payment when money came in under a pay bill / buy goods reason, a
payout when money went out as a business payment (B2C); anything else (charges, transfers, top-ups)
is the shortcode's own movement, kept as is.
"""
import csv
import io
import re

from escrow.statement.runs import StatementEntry
from mpesa.statement import RECEIPT_SHAPE, read_amount, read_time

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
_PAYMENT_REASON = re.compile(r"pay ?bill|buy ?goods|c2b|customer", re.I)
_OWN_REASON = re.compile(r"charge|reversal|transfer|business payment|b2c|salary|withdraw|settle", re.I)
_PAYOUT_REASON = re.compile(r"business payment|salary payment|promotion payment|b2c", re.I)
COLUMNS = {"receipt": ("receiptno", "receipt", "transactionid"), "time": ("completiontime", "date", "time"),
           "status": ("transactionstatus", "status"), "paid_in": ("paidin", "credit"),
           "withdrawn": ("withdrawn", "debit"), "reason": ("reasontype", "details", "description"),
           "party": ("otherpartyinfo", "otherparty"), "account": ("acno", "accountno", "account", "billreference")}


class StatementFileError(ValueError):
    """The file is not a statement export we can read."""


def read_portal_csv(data: bytes, shortcode: str) -> list[StatementEntry]:
    if len(data) > MAX_BYTES:
        raise StatementFileError(f"statement file over {MAX_BYTES // (1024 * 1024)} MB")
    text = data.decode("utf-8-sig", errors="replace")
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        raise StatementFileError("empty statement file")
    where = _columns(header)
    entries = []
    for number, row in enumerate(rows):
        if number >= MAX_ROWS:
            raise StatementFileError(f"more than {MAX_ROWS} rows")
        value = {name: (row[index].strip()[:200] if index < len(row) else "") for name, index in where.items()}
        if value.get("status", "completed").lower() not in ("completed", ""):
            continue
        entries.append(_entry(value, shortcode))
    return entries


def _columns(header: list[str]) -> dict[str, int]:
    names = [re.sub(r"[^a-z]", "", cell.lower()) for cell in header[:60]]
    where = {}
    for field, candidates in COLUMNS.items():
        for candidate in candidates:
            if candidate in names:
                where[field] = names.index(candidate)
                break
    missing = {"receipt", "time", "paid_in", "withdrawn"} - set(where)
    if missing:
        raise StatementFileError(f"not an M-Pesa statement export: no {', '.join(sorted(missing))} column")
    return where


def _entry(value: dict, shortcode: str) -> StatementEntry:
    receipt, at = value["receipt"][:32], read_time(value["time"])
    amount = _signed_amount(value.get("paid_in", ""), value.get("withdrawn", ""))
    reason = value.get("reason", "")
    problems = [name for name, bad in (("Receipt No.", not RECEIPT_SHAPE.fullmatch(receipt)),
                                       ("Completion Time", at is None), ("Paid In/Withdrawn", amount is None)) if bad]
    payment = amount is not None and amount > 0 and bool(_PAYMENT_REASON.search(reason)) \
        and not _OWN_REASON.search(reason)
    payout = amount is not None and amount < 0 and bool(_PAYOUT_REASON.search(reason)) \
        and "charge" not in reason.lower()
    return StatementEntry(shortcode=str(shortcode), receipt=receipt or "?", at=at, kind=reason[:40] or "portal",
                          amount=amount, account=value.get("account", "")[:40],
                          party=value.get("party", "").split(" ")[0][:64],
                          problem=f"unreadable {', '.join(problems)}" if problems else None,
                          movement="payment" if payment else "payout" if payout else "other")


def _signed_amount(paid_in: str, withdrawn: str) -> int | None:
    """Paid In positive, Withdrawn negative (the export may sign it or not); exactly one of them."""
    paid_in, withdrawn = paid_in.strip(), withdrawn.strip().lstrip("-")
    if paid_in and not withdrawn:
        return read_amount(paid_in)
    if withdrawn and not paid_in:
        amount = read_amount(withdrawn)
        return -amount if amount is not None else None
    return None
