"""Float and balances: M-Pesa's Account Balance answers kept, and the B2C float compared with what
the ledger says we owe out, so an operator tops it up before payouts fail (issue 12).

Every BALANCE_QUERY_EVERY_SECONDS (0: off) the reconciler asks M-Pesa for the balance of the B2C
shortcode and of the shortcodes we receive on; the answer comes back later, asynchronously, like a
Transaction Status result, and `record_balance` keeps each account of it. `check_float` compares
the B2C shortcode's Utility Account (what B2C pays from) with what is owed out (released to
sellers and owed back to buyers, not yet paid: the seller_payable and refunds_payable balances)
plus a margin, B2C_FLOAT_MIN; short of it, a `float-low` finding (once per shortcode and day).
"""
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from escrow import ledger
from escrow.context import Core
from escrow.db import Database, db_now
from escrow.findings import record_finding
from escrow.models import AccountBalance
from escrow.ports import ProviderError
from escrow.settings import read_int

log = logging.getLogger(__name__)
B2C_ACCOUNT = "Utility Account"   # B2C pays from the utility account (Daraja's Account Balance page)
FLOAT_SHORT = "1"                 # a B2C result code: "The balance is insufficient for the transaction"


@dataclass(frozen=True)
class FloatSettings:
    b2c_float_min: int = 0                  # KES kept in hand beyond what is owed out
    balance_query_every_seconds: int = 3600

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "FloatSettings":
        return cls(**{name: read_int(env, name.upper(), field.default)
                      for name, field in cls.__dataclass_fields__.items()})


@dataclass(frozen=True)
class AccountFunds:
    name: str
    currency: str
    available_cents: int


@dataclass(frozen=True)
class BalanceAnswer:
    """One Account Balance result in the core's words (parsed by the M-Pesa adapter)."""
    shortcode: str
    succeeded: bool
    result_code: str
    description: str
    accounts: tuple[AccountFunds, ...] = ()
    reported_at: datetime | None = None
    conversation_id: str | None = None


class BalanceSource(Protocol):
    def balance_shortcodes(self) -> dict[str, str]:
        """{shortcode: 'b2c' or 'paybill'}."""

    def query_balance(self, shortcode: str, reply_to: str | None = None) -> None:
        """Ask M-Pesa for the balance; the answer arrives at our result URL, ending with `reply_to`'s
        tag (balance_reply_tag). Raises GatewayError."""


def record_balance(session: Session, core: Core, answer: BalanceAnswer, b2c_shortcode: str | None,
                   settings: FloatSettings) -> str:
    """Keep each account of a successful answer, then compare the float: 'recorded', 'float_low' or 'failed'."""
    if not answer.succeeded or not answer.accounts:
        log.warning("balance query for %s failed: %s %s", answer.shortcode, answer.result_code, answer.description)
        return "failed"
    session.execute(insert(AccountBalance), [
        {"shortcode": answer.shortcode, "account": funds.name[:40], "currency": funds.currency[:3],
         "available_cents": funds.available_cents, "reported_at": answer.reported_at,
         "conversation_id": (answer.conversation_id or "")[:64] or None} for funds in answer.accounts])
    if answer.shortcode == b2c_shortcode:
        return "float_low" if check_float(session, b2c_shortcode, settings)["short"] else "recorded"
    return "recorded"


def owed_out(session: Session) -> int:
    """KES the ledger says must still leave by B2C: released to sellers, owed back to buyers."""
    return -(ledger.balance(session, ledger.SELLER_PAYABLE) + ledger.balance(session, ledger.REFUNDS_PAYABLE))


def latest_funds(session: Session, shortcode: str, account: str = B2C_ACCOUNT) -> AccountBalance | None:
    return session.scalar(select(AccountBalance).where(AccountBalance.shortcode == shortcode,
                                                       AccountBalance.account == account)
                          .order_by(AccountBalance.id.desc()).limit(1))


def check_float(session: Session, b2c_shortcode: str, settings: FloatSettings) -> dict:
    """{'known', 'available', 'owed', 'margin', 'short'}; a float-low finding when short."""
    funds = latest_funds(session, b2c_shortcode)
    owed, margin = owed_out(session), settings.b2c_float_min
    if funds is None:
        return {"known": False, "available": None, "owed": owed, "margin": margin, "short": False}
    available = funds.available_cents // 100
    short = available < owed + margin
    if short:
        day = db_now(session).date()
        record_finding(session, f"float-low:{b2c_shortcode}:{day}", order_id=None,
                       summary=f"B2C float on {b2c_shortcode} is KES {available:,} but KES {owed:,} is owed out "
                               f"(plus B2C_FLOAT_MIN KES {margin:,}): top it up before payouts fail",
                       available=available, owed=owed, margin=margin)
    return {"known": True, "available": available, "owed": owed, "margin": margin, "short": short,
            "at": funds.created_at}


def balance_notes(session: Session, b2c_shortcode: str | None, settings: FloatSettings) -> list[str]:
    """For `flask ledger check`: the last balance comparison."""
    if not b2c_shortcode:
        return []
    funds = latest_funds(session, b2c_shortcode)
    if funds is None:
        return [f"float: no balance answer yet for {b2c_shortcode} (flask mpesa balance)"]
    owed, margin = owed_out(session), settings.b2c_float_min
    available = funds.available_cents // 100
    verdict = "SHORT: top it up" if available < owed + margin else "covers it"
    return [f"float {b2c_shortcode}: KES {available:,} at {funds.created_at:%Y-%m-%d %H:%M} UTC against KES "
            f"{owed:,} owed out + B2C_FLOAT_MIN {margin:,}: {verdict}"]


BALANCE_REPLY = "balance"   # the kind named in an Account Balance answer's reply tag


def balance_reply_tag(core: Core, shortcode: str) -> str:
    """`<shortcode>/<tag>` for the answer's URL (escrow.reversals.reply_tag)."""
    from escrow.reversals import reply_tag
    return reply_tag(core, BALANCE_REPLY, int(shortcode))


def balance_reply_is_ours(core: Core, shortcode: str, tag: str | None) -> bool:
    from escrow.reversals import reply_is_ours
    return bool(tag) and str(shortcode).isascii() and str(shortcode).isdigit() and len(str(shortcode)) <= 9 \
        and reply_is_ours(core, BALANCE_REPLY, int(shortcode), tag)


class BalanceChecker:
    """A reconciler step: ask for every shortcode's balance every BALANCE_QUERY_EVERY_SECONDS; and
    the rule for payouts M-Pesa refused for float: they wait (with a finding) until a balance answer
    newer than the refusal shows the float covers them, then are retried, however many attempts
    that takes: a float shortage is never a reason to give a payout up."""

    def __init__(self, db: Database, source: BalanceSource, settings: FloatSettings, core: Core | None = None):
        self.db, self.source, self.settings, self.core = db, source, settings, core
        self._last_run = time.monotonic()  # the first scheduled query comes one interval after start

    def run_if_due(self, report) -> None:
        every = self.settings.balance_query_every_seconds
        now = time.monotonic()
        if every <= 0 or now - self._last_run < every:
            return
        self._last_run = now
        report.add("balance queries", len(self.query_all()))

    def is_float_failure(self, payout) -> bool:
        return payout.result_code == FLOAT_SHORT

    def keeps_waiting(self, session: Session, payout) -> bool:
        """Whether a payout refused for float must wait for a top-up still. Without a way to learn the
        float (no B2C shortcode, or BALANCE_QUERY_EVERY_SECONDS=0) it does not wait: the ordinary B2C
        retry rules apply."""
        b2c = next((code for code, role in self.source.balance_shortcodes().items() if role == "b2c"), None)
        if b2c is None or self.settings.balance_query_every_seconds <= 0:
            return False
        funds = latest_funds(session, b2c)
        if funds is not None and funds.created_at > payout.updated_at and funds.available_cents // 100 >= payout.amount:
            return False
        record_finding(session, f"payout-waiting-float:{payout.id}", order_id=payout.order_id,
                       summary=f"{payout.purpose} of KES {payout.amount:,} was refused for float on {b2c}; it is retried "
                               f"once a balance answer shows the float topped up (flask mpesa balance)",
                       originator_id=payout.originator_conversation_id)
        return True

    def query_all(self) -> list[str]:
        """Send one query per shortcode; the shortcodes asked (failures are logged and skipped)."""
        asked = []
        for shortcode in self.source.balance_shortcodes():
            try:
                if self.core is None:
                    self.source.query_balance(shortcode)
                else:   # the answer's URL carries a tag only we can make: the callback token cannot forge it
                    self.source.query_balance(shortcode, reply_to=balance_reply_tag(self.core, shortcode))
            except ProviderError as error:
                log.warning("balance query for %s not sent: %s", shortcode, error)
                continue
            asked.append(shortcode)
        return asked
