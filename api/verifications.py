"""A number's consent: a one-time code by SMS (through the outbox, like every SMS), exchanged for a
short-lived phone token bound to that number and to the API key that asked."""
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from api.problems import problem
from escrow.context import Core
from escrow.db import Database, db_now, insert_row
from escrow.errors import LimitExceeded
from escrow.limits import one_number_at_a_time
from escrow.models import ApiVerification
from escrow.notify import queue_sms
from escrow.phone import mask, normalize_msisdn
from escrow.vault import new_delivery_code

TOKEN_PREFIX = "zpt_"


@dataclass(frozen=True)
class VerificationSettings:
    code_seconds: int = 600       # API_VERIFICATION_CODE_SECONDS
    token_seconds: int = 3600     # API_PHONE_TOKEN_SECONDS
    max_attempts: int = 5         # wrong codes before a verification is spent
    per_number_per_hour: int = 5  # codes sent to one number per hour (each is an SMS we pay for)


@dataclass(frozen=True)
class Started:
    id: str
    phone_masked: str
    expires_at: datetime


@dataclass(frozen=True)
class Verified:
    token: str
    phone_masked: str
    expires_at: datetime


def _code_hash(core: Core, verification_id: str, code: str) -> str:
    return core.vault.sign(f"api-otp:{verification_id}:{code}")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(db: Database, core: Core, settings: VerificationSettings, key_id: int, phone: str) -> Started:
    number = normalize_msisdn(phone)
    phone_key = core.vault.phone_key(number)
    with db.transaction() as session:
        one_number_at_a_time(session, phone_key)   # codes asked for at once are counted one by one
        now = db_now(session)
        sent = session.scalar(select(func.count()).select_from(ApiVerification).where(
            ApiVerification.phone_key == phone_key, ApiVerification.created_at > now - timedelta(hours=1)))
        if sent >= settings.per_number_per_hour:
            raise LimitExceeded("verifications_per_hour", settings.per_number_per_hour)
        verification_id, code = "ver_" + secrets.token_hex(12), new_delivery_code()
        expires_at = now + timedelta(seconds=settings.code_seconds)
        insert_row(session, ApiVerification, id=verification_id, api_key_id=key_id, phone_key=phone_key,
                   phone_sealed=core.vault.seal(number), code_hash=_code_hash(core, verification_id, code),
                   expires_at=expires_at)
        queue_sms(session, core, phone=number, kind="verification_code", order_id=None, secret={"code": code},
                  minutes=str(max(1, settings.code_seconds // 60)))
        return Started(verification_id, mask(number), expires_at)


def check(db: Database, core: Core, settings: VerificationSettings, key_id: int, verification_id: str,
          code: str) -> Verified:
    """The right code gives a token once; wrong codes are counted (committed) and spend it at the limit."""
    with db.transaction() as session:
        row = session.get(ApiVerification, verification_id, with_for_update=True)
        if row is None or row.api_key_id != key_id:
            raise problem("not-found", "no such verification for this API key")
        now = db_now(session)
        if row.token_hash is not None:
            raise problem("verification-used")
        if row.attempts >= settings.max_attempts:
            raise problem("code-locked", "too many wrong codes; start a new verification")
        if row.expires_at <= now:
            raise problem("verification-expired")
        if not hmac.compare_digest(row.code_hash, _code_hash(core, verification_id, (code or "").strip())):
            remaining = settings.max_attempts - row.attempts - 1
            session.execute(update(ApiVerification).where(ApiVerification.id == row.id)
                            .values(attempts=ApiVerification.attempts + 1))
            session.commit()
            if remaining <= 0:
                raise problem("code-locked", "too many wrong codes; start a new verification")
            raise problem("wrong-code", f"wrong code ({remaining} tries left)", remaining=remaining)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = now + timedelta(seconds=settings.token_seconds)
        session.execute(update(ApiVerification).where(ApiVerification.id == row.id)
                        .values(token_hash=_token_hash(token), token_expires_at=expires_at))
        return Verified(token, mask(core.vault.unseal(row.phone_sealed)), expires_at)


def phone_of_token(db: Database, core: Core, key_id: int, token: str | None) -> str | None:
    """The verified number a live token stands for, only for the key it was issued to."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    with db.transaction() as session:
        row = session.scalar(select(ApiVerification).where(ApiVerification.token_hash == _token_hash(token)))
        if row is None or row.api_key_id != key_id or row.token_expires_at <= db_now(session):
            return None
        return core.vault.unseal(row.phone_sealed)
