"""Integrations' API keys: shown once, kept only as a sha256, scoped, revocable, rate-limited."""
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select, update

from escrow.db import Database, insert_row, utcnow
from escrow.models import ApiKey

log = logging.getLogger(__name__)

# orders:any: a phone token reaches the number's orders made anywhere (an app serving the person across
# channels); without it, only the orders made through this key's integration (api/records.py).
SCOPES = ("verifications", "orders:read", "orders:write", "payment_links", "orders:any")
KEY_PREFIX = "zk_"


class UnknownScope(ValueError):
    pass


@dataclass(frozen=True)
class Caller:
    key_id: int
    integration: str
    scopes: frozenset


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(db: Database, name: str, scopes) -> str:
    """A new key for integration `name`; the return value is the only time it exists in clear."""
    wanted = sorted(set(scopes))
    unknown = [scope for scope in wanted if scope not in SCOPES]
    if unknown or not wanted:
        raise UnknownScope(f"scopes must be some of {', '.join(SCOPES)}")
    prefix = KEY_PREFIX + secrets.token_hex(4)
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    with db.transaction() as session:
        insert_row(session, ApiKey, name=name, prefix=prefix, key_hash=digest(key), scopes=" ".join(wanted))
    return key


def revoke_key(db: Database, prefix: str) -> bool:
    with db.transaction() as session:
        return session.execute(update(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
                               .values(revoked_at=utcnow())).rowcount == 1


def list_keys(db: Database) -> list[ApiKey]:
    with db.transaction() as session:
        rows = list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
        session.expunge_all()
        return rows


def caller_for(db: Database, key: str | None) -> Caller | None:
    """The live key's caller, or None (missing, unknown or revoked)."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    with db.transaction() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(key), ApiKey.revoked_at.is_(None)))
        if row is None:
            return None
        return Caller(key_id=row.id, integration=row.name, scopes=frozenset(row.scopes.split()))


class RateLimiter:
    """A fixed window per key in Redis. Redis out of reach lets requests through (logged): the
    money rules themselves are counted in the database and do not depend on it."""

    def __init__(self, redis_client, per_minute: int):
        self.redis, self.per_minute = redis_client, per_minute

    def retry_after(self, key_id: int) -> int | None:
        """None when the request may go on; else the seconds until the window turns."""
        window = int(time.time() // 60)
        name = f"api:rate:{key_id}:{window}"
        try:
            pipe = self.redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, 120)
            count = pipe.execute()[0]
        except Exception as error:  # noqa: BLE001 -- see the class comment
            log.warning("api rate limit not counted: %s", type(error).__name__)
            return None
        if count > self.per_minute:
            return max(1, 60 - int(time.time()) % 60)
        return None
