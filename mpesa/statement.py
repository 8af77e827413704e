"""Daraja's Pull Transactions API: a shortcode's own statement of money in (docs/mpesa-statement.md).

Register once per shortcode, then query a window page by page (`OffSetValue` is the row to start
from). Every line is outside input: each field is read from a bounded string, and a line that
cannot be read is kept with its `problem` rather than dropped, so reconciliation can name it.
"""
import re
from datetime import datetime, timedelta, timezone

from escrow.statement.runs import StatementEntry
from mpesa.daraja import DarajaClient
from mpesa.errors import DarajaRejected
from mpesa.fields import refuse_bad_urls
from mpesa.results import EAT

REGISTER_PATH = "/pulltransactions/v1/register"
QUERY_PATH = "/pulltransactions/v1/query"
FOUND, NOTHING = "1000", "1001"
MAX_PAGES = 500          # a runaway offset stops here (with a page of 100, 50,000 lines)
RECEIPT_SHAPE = re.compile(r"[A-Z0-9]{6,20}")
_AMOUNT = re.compile(r"([0-9]{1,9})(?:\.([0-9]{1,2}))?")
_CLEAR_MSISDN = re.compile(r"254[17][0-9]{8}")
_TIME_FORMATS = (("%Y-%m-%dT%H:%M:%SZ", timezone.utc), ("%Y-%m-%dT%H:%M:%S.%fZ", timezone.utc),
                 ("%Y-%m-%d %H:%M:%S", EAT), ("%Y%m%d%H%M%S", EAT))


class PullTransactions:
    """The two Pull Transactions calls, through the Daraja client's token handling."""

    def __init__(self, client: DarajaClient):
        self._client = client

    def register(self, *, shortcode: str, nominated_number: str, callback_url: str) -> dict:
        """One-time registration of `shortcode`; Daraja answers 1000 (registered) or 1001 (already)."""
        refuse_bad_urls(callback_url=callback_url)
        body = self._client._call(REGISTER_PATH, {"ShortCode": str(shortcode), "RequestType": "Pull",
                                                  "NominatedNumber": str(nominated_number),
                                                  "CallBackURL": callback_url})
        status = str(body.get("ResponseStatus") or body.get("ResponseCode") or "")
        if status not in (FOUND, NOTHING):
            raise DarajaRejected(str(body.get("ResponseDescription") or "Pull registration refused"),
                                 error_code=status or None)
        return body

    def fetch(self, *, shortcode: str, start: datetime, end: datetime) -> list[StatementEntry]:
        """Every line in [start, end] (naive UTC; sent as M-Pesa's local time), all pages."""
        lines: list[StatementEntry] = []
        for _ in range(MAX_PAGES):
            page = self._page(shortcode, start, end, offset=len(lines))
            if not page:
                return lines
            lines += [read_line(raw, shortcode) for raw in page]
        raise DarajaRejected(f"Pull Transactions gave more than {MAX_PAGES} pages; window too wide")

    def _page(self, shortcode: str, start: datetime, end: datetime, offset: int) -> list:
        body = self._client._call(QUERY_PATH, {"ShortCode": str(shortcode), "StartDate": _eat(start),
                                               "EndDate": _eat(_next_second(end)), "OffSetValue": str(offset)})
        code = str(body.get("ResponseCode") or "")
        if code == NOTHING:
            return []
        if code != FOUND:
            raise DarajaRejected(str(body.get("ResponseMessage") or "Pull query refused")[:200],
                                 error_code=code or None)
        return _flatten(body.get("Response"))


def _next_second(moment: datetime) -> datetime:
    """Daraja's dates have whole seconds: round the end up, so a line late in its last second is in."""
    return moment.replace(microsecond=0) + timedelta(seconds=1) if moment.microsecond else moment


def _eat(moment: datetime) -> str:
    return moment.replace(tzinfo=timezone.utc).astimezone(EAT).strftime("%Y-%m-%d %H:%M:%S")


def _flatten(response) -> list:
    """`Response` is documented as a list of lists of lines; accept a flat list too."""
    if not isinstance(response, list):
        return []
    lines = []
    for item in response[:10_000]:
        if isinstance(item, list):
            lines += [line for line in item[:10_000] if isinstance(line, dict)]
        elif isinstance(item, dict):
            lines.append(item)
    return lines


def read_line(raw: dict, shortcode: str) -> StatementEntry:
    """One Pull line -> StatementEntry; field names taken case-insensitively."""
    fields = {str(key).lower(): value for key, value in list(raw.items())[:40]}
    receipt = _text(fields.get("transactionid"), 32).strip()
    at, amount = read_time(fields.get("trxdate")), read_amount(fields.get("amount"))
    problems = [name for name, bad in (("transactionId", not RECEIPT_SHAPE.fullmatch(receipt)),
                                       ("trxDate", at is None), ("amount", amount is None)) if bad]
    return StatementEntry(shortcode=str(shortcode), receipt=receipt or "?", at=at,
                          kind=_text(fields.get("transactiontype"), 40), amount=amount,
                          account=_text(fields.get("billreference"), 40).strip(),
                          party=_text(fields.get("msisdn"), 64),
                          problem=f"unreadable {', '.join(problems)}" if problems else None)


def read_time(value) -> datetime | None:
    """A line's time as naive UTC: '...Z' is UTC, anything without a zone is M-Pesa's EAT [?]."""
    text = _text(value, 32).strip()
    for pattern, zone in _TIME_FORMATS:
        try:
            moment = datetime.strptime(text, pattern).replace(tzinfo=zone)
        except ValueError:
            continue
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    return None


def read_amount(value) -> int | None:
    """Whole shillings from '233', '233.00' or 233.0; None for cents, signs, exponents or junk."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    match = _AMOUNT.fullmatch(_text(value, 16).strip().replace(",", ""))
    if not match or int(match.group(2) or 0):
        return None
    return int(match.group(1))


def clear_msisdn(party: str) -> str | None:
    """The payer's number when the statement gives it in clear (2547XXXXXXXX), else None."""
    return party if _CLEAR_MSISDN.fullmatch(party or "") else None


def _text(value, limit: int) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)[:limit]


def shortcodes_of(client: DarajaClient) -> dict[str, tuple[str, ...]]:
    """{shortcode: channels}: STK payments land on the STK shortcode (the till in till mode), paybill
    payments on the C2B shortcode; usually the same one."""
    stk = client._config.till_number if client._is_till() else client._config.shortcode
    c2b = client._c2b_shortcode()
    return {stk: ("stk", "paybill")} if stk == c2b else {stk: ("stk",), c2b: ("paybill",)}
