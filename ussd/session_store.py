"""RedisSessionStore: USSD session records, resume offers, rate counters and AT's session events.

Keys (all under `prefix`):
  session:<sessionId>   JSON session record, expires after `ttl_seconds`
  resume:<digest>       JSON resume offer for a phone number, keyed by a keyed digest of it
  rate:<digest>:<min>   hop counter for one phone number in one clock minute
  lock:<sessionId>      short lock so that two copies of one hop never run together
  events                list of AT end-of-session notifications (newest first, capped)
Redis only holds convenience data: orders and delivery-code attempts live in the core.
"""
import hashlib
import hmac
import json
import time
import uuid
from contextlib import contextmanager

from escrow.errors import InvalidPhoneNumber
from escrow.phone import normalize_msisdn

from ussd.errors import StoreUnavailable

EVENTS_KEPT = 1_000


def digest(text: str, key: str = "") -> str:
    """SHA-256 of `text` (HMAC-SHA256 when a key is configured): how text and numbers are kept."""
    if key:
        return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256(text.encode()).hexdigest()


_RELEASE_IF_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisSessionStore:
    def __init__(self, redis_client, ttl_seconds: int = 300, prefix: str = "zemi:ussd:",
                 resume_ttl_seconds: int | None = None, hash_key: str = "", clock=time.time):
        self.redis = redis_client
        self.ttl = ttl_seconds
        self.resume_ttl = resume_ttl_seconds or ttl_seconds
        self.prefix = prefix
        self.hash_key = hash_key
        self.clock = clock

    @classmethod
    def from_settings(cls, redis_client, settings, prefix: str = "zemi:ussd:") -> "RedisSessionStore":
        """A store using UssdSettings' session and resume TTLs and its digest key."""
        return cls(redis_client, ttl_seconds=settings.session_ttl, prefix=prefix,
                   resume_ttl_seconds=settings.resume_ttl, hash_key=settings.hash_key)

    def digest(self, text: str) -> str:
        return digest(text, self.hash_key)

    def phone_key(self, phone: str) -> str:
        """The digest that stands for a phone number in keys (+254.., 254.., 07.. alike)."""
        try:
            return self.digest(normalize_msisdn(phone))
        except InvalidPhoneNumber:
            return self.digest(phone)

    # ---- sessions -------------------------------------------------------------------------
    def load(self, session_id: str) -> dict | None:
        raw = self.redis.get(self._key("session", session_id))
        return json.loads(raw) if raw else None

    def save(self, session_id: str, record: dict) -> None:
        self.redis.set(self._key("session", session_id), json.dumps(record), ex=self.ttl)

    @contextmanager
    def lock(self, session_id: str, wait_seconds: float = 3.0, hold_seconds: int = 15):
        """Hold the session's lock for one hop; StoreUnavailable if it stays taken."""
        key, token = self._key("lock", session_id), uuid.uuid4().hex
        deadline = time.monotonic() + wait_seconds
        while not self.redis.set(key, token, nx=True, ex=hold_seconds):
            if time.monotonic() > deadline:
                raise StoreUnavailable("session is busy")
            time.sleep(0.05)
        try:
            yield
        finally:
            # one atomic compare-and-delete: a GET then DEL could remove the lock of a later hop
            # that took it after ours expired
            self.redis.eval(_RELEASE_IF_OURS, 1, key, token)

    # ---- resume offers --------------------------------------------------------------------
    def resume_of(self, phone: str) -> dict | None:
        raw = self.redis.get(self._key("resume", self.phone_key(phone)))
        return json.loads(raw) if raw else None

    def keep_resume(self, phone: str, point: dict) -> None:
        self.redis.set(self._key("resume", self.phone_key(phone)), json.dumps(point), ex=self.resume_ttl)

    def drop_resume(self, phone: str) -> None:
        self.redis.delete(self._key("resume", self.phone_key(phone)))

    # ---- rate limit -----------------------------------------------------------------------
    def count_hop(self, phone: str) -> int:
        """This phone's hops in the current minute, this one included."""
        minute = int(self.clock() // 60)
        key = self._key("rate", f"{self.phone_key(phone)}:{minute}")
        with self.redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = pipe.execute()
        return int(count)

    # ---- end-of-session events ------------------------------------------------------------
    def record_event(self, event: dict) -> None:
        key = self._key("events", None)
        with self.redis.pipeline() as pipe:
            pipe.lpush(key, json.dumps(event))
            pipe.ltrim(key, 0, EVENTS_KEPT - 1)
            pipe.execute()

    def events(self, count: int = 50) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self._key("events", None), 0, count - 1)]

    def _key(self, kind: str, name: str | None) -> str:
        return f"{self.prefix}{kind}" + (f":{name}" if name is not None else "")
