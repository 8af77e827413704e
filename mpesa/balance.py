"""Daraja's Account Balance: the query (asynchronous: the answer is POSTed to our ResultURL) and
the parsing of its result, both bounded (docs/mpesa-statement.md, Account Balance)."""
import re
from datetime import datetime, timezone

from escrow.statement.balances import AccountFunds, BalanceAnswer
from mpesa.daraja import DarajaClient
from mpesa.errors import MalformedCallback
from mpesa.fields import refuse_bad_urls
from mpesa.results import EAT

QUERY_PATH = "/mpesa/accountbalance/v1/query"
_MONEY = re.compile(r"(-?)([0-9]{1,13})(?:\.([0-9]{1,2}))?")
_SHORTCODE = re.compile(r"[0-9]{5,7}")


def query_balance(client: DarajaClient, *, shortcode: str, result_url: str, timeout_url: str) -> dict:
    """Ask for `shortcode`'s balances (the B2C initiator must hold the balance role on it)."""
    refuse_bad_urls(result_url=result_url, timeout_url=timeout_url)
    initiator = client._initiator()
    payload = {"Initiator": initiator["InitiatorName"], "SecurityCredential": initiator["SecurityCredential"],
               "CommandID": "AccountBalance", "PartyA": str(shortcode), "IdentifierType": "4",
               "Remarks": "Float check", "QueueTimeOutURL": timeout_url, "ResultURL": result_url}
    return client._accepted(client._call(QUERY_PATH, payload))


def parse_balance_result(body, shortcode: str) -> BalanceAnswer:
    """{"Result": {...}} -> BalanceAnswer; MalformedCallback when it is not one."""
    if not _SHORTCODE.fullmatch(str(shortcode)):
        raise MalformedCallback("balance result for no shortcode of ours")
    result = body.get("Result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        raise MalformedCallback("no Result object")
    code = _text(result.get("ResultCode"), 16)
    if not code:
        raise MalformedCallback("no ResultCode")
    params = _parameters(result.get("ResultParameters"))
    accounts = read_accounts(params.get("AccountBalance")) if code == "0" else ()
    if code == "0" and not accounts:
        raise MalformedCallback("a successful balance result without readable accounts")
    return BalanceAnswer(shortcode=str(shortcode), succeeded=code == "0", result_code=code,
                         description=_text(result.get("ResultDesc"), 200), accounts=accounts,
                         reported_at=_eat_time(params.get("BOCompletedTime")),
                         conversation_id=_text(result.get("ConversationID"), 64) or None)


def read_accounts(value) -> tuple[AccountFunds, ...]:
    """'Working Account|KES|700000.00|700000.00|0.00|0.00&Utility Account|KES|...' -> accounts;
    the third field is the available balance [S: Daraja's Account Balance page]."""
    accounts = []
    for part in _text(value, 2000).split("&")[:12]:
        fields = part.split("|")
        if len(fields) < 3:
            continue
        cents = _cents(fields[2])
        name = fields[0].strip()[:40]
        if cents is not None and name:
            accounts.append(AccountFunds(name=name, currency=fields[1].strip()[:3], available_cents=cents))
    return tuple(accounts)


def _cents(text: str) -> int | None:
    match = _MONEY.fullmatch(text.strip())
    if not match:
        return None
    sign, whole, fraction = match.groups()
    cents = int(whole) * 100 + int((fraction or "0").ljust(2, "0"))
    return -cents if sign else cents


def _parameters(value) -> dict:
    items = value.get("ResultParameter") if isinstance(value, dict) else None
    items = [items] if isinstance(items, dict) else items if isinstance(items, list) else []
    return {str(item.get("Key"))[:40]: item.get("Value") for item in items[:20] if isinstance(item, dict)}


def _eat_time(value) -> datetime | None:
    try:
        moment = datetime.strptime(_text(value, 14), "%Y%m%d%H%M%S").replace(tzinfo=EAT)
    except ValueError:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _text(value, limit: int) -> str:
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return str(value)[:limit].strip()
