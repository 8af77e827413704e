"""RedisSessionStore: USSD session records, resume offers, rate counters and AT's session events.

Keys (all under `prefix`):
  session:<sessionId>   JSON session record, expires after `ttl_seconds`
  resume:<digest>       JSON resume offer for a phone number, keyed by a keyed digest of it
  rate:<digest>:<min>   hop counter for one phone number in one clock minute
  lock:<sessionId>      short lock so that two copies of one hop never run together
  lang:<digest>         the phone's language as last chosen on USSD (a day's cache of the core's)
  events                list of AT end-of-session notifications (newest first, capped)
Redis only holds convenience data: orders, languages and delivery-code attempts live in the core.
A hop costs two round trips: `hop()` reads everything it needs in one pipeline, and
`OpenHop.commit()` writes everything back and releases the lock in another (on a Redis Cluster the
release is a third: a cluster pipeline cannot carry the compare-and-delete script).
"""
import hashlib
import hmac
import json
import time
import logging
import uuid
from contextlib import contextmanager

from redis.cluster import RedisCluster
from redis.exceptions import RedisError

from escrow.errors import InvalidPhoneNumber
from escrow.phone import normalize_msisdn

from ussd.errors import StoreUnavailable

EVENTS_KEPT = 1_000
LANGUAGE_TTL_SECONDS = 86_400
log = logging.getLogger("ussd")


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
        self.language_ttl = LANGUAGE_TTL_SECONDS
        self._one_node = not isinstance(redis_client, RedisCluster)

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

    # ---- one hop ---------------------------------------------------------------------------
    @contextmanager
    def hop(self, session_id: str, phone: str, *, dialled: bool, wait_seconds: float = 3.0,
            hold_seconds: int = 15):
        """Open one hop: count it against the phone's rate, take the session's lock and read the
        session (and, on the dial hop, the phone's resume offer and remembered language), all in
        one round trip. The caller queues its writes on the OpenHop and calls `commit()`, which
        sends them and releases the lock in one more. Without a commit the lock is released on
        exit; if even that fails, the lock expires after `hold_seconds`."""
        opened = OpenHop(self, session_id, phone, uuid.uuid4().hex)
        self._open(opened, dialled, hold_seconds, time.monotonic() + wait_seconds)
        try:
            yield opened
        finally:
            if not opened.released:
                self._release_quietly(opened)

    def _open(self, opened: "OpenHop", dialled: bool, hold_seconds: int, deadline: float) -> None:
        rate_key = self._key("rate", f"{opened.phone_key}:{int(self.clock() // 60)}")
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(rate_key)
            pipe.expire(rate_key, 120)
            pipe.set(opened.lock_key, opened.token, nx=True, ex=hold_seconds)
            pipe.get(opened.session_key)
            if dialled:
                pipe.get(opened.resume_key)
                pipe.get(opened.language_key)
            count, _, locked, raw, *dial = pipe.execute()
        while not locked:
            if time.monotonic() > deadline:
                raise StoreUnavailable("session is busy")
            time.sleep(0.05)
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(opened.lock_key, opened.token, nx=True, ex=hold_seconds)
                pipe.get(opened.session_key)
                locked, raw = pipe.execute()
        opened.hops_this_minute = int(count)
        opened.record = json.loads(raw) if raw else None
        if dial:
            opened.resume = json.loads(dial[0]) if dial[0] else None
            opened.language = dial[1].decode() if dial[1] else None

    def _commit(self, opened: "OpenHop") -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            for write in opened.writes:
                write(pipe)
            if self._one_node:
                pipe.eval(_RELEASE_IF_OURS, 1, opened.lock_key, opened.token)
            pipe.execute()
        if not self._one_node:  # a cluster pipeline carries no scripts: release on its own
            self.redis.eval(_RELEASE_IF_OURS, 1, opened.lock_key, opened.token)

    def _release_quietly(self, opened: "OpenHop") -> None:
        try:
            self.redis.eval(_RELEASE_IF_OURS, 1, opened.lock_key, opened.token)
        except RedisError as exc:
            log.warning("ussd session lock left to expire: %s", type(exc).__name__)

    def load(self, session_id: str) -> dict | None:
        """A session's record, outside any hop (for the end-of-session timings)."""
        raw = self.redis.get(self._key("session", session_id))
        return json.loads(raw) if raw else None

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


class OpenHop:
    """What one hop read from Redis, and the writes it queues for its single commit."""

    def __init__(self, store: RedisSessionStore, session_id: str, phone: str, token: str):
        self.store, self.token = store, token
        self.phone_key = store.phone_key(phone)
        self.session_key = store._key("session", session_id)
        self.lock_key = store._key("lock", session_id)
        self.resume_key = store._key("resume", self.phone_key)
        self.language_key = store._key("lang", self.phone_key)
        self.hops_this_minute = 0
        self.record: dict | None = None
        self.resume: dict | None = None       # read on the dial hop only
        self.language: str | None = None      # read on the dial hop only; None when not remembered
        self.writes: list = []
        self.released = False

    def save(self, record: dict) -> None:
        self.writes.append(lambda pipe: pipe.set(self.session_key, json.dumps(record), ex=self.store.ttl))

    def offer_resume(self, point: dict | None) -> None:
        """Keep `point` as the phone's resume offer, or withdraw the offer when it is None."""
        if point is None:
            self.writes.append(lambda pipe: pipe.delete(self.resume_key))
        else:
            self.writes.append(lambda pipe: pipe.set(self.resume_key, json.dumps(point), ex=self.store.resume_ttl))

    def remember_language(self, language: str) -> None:
        self.writes.append(lambda pipe: pipe.set(self.language_key, language, ex=self.store.language_ttl))

    def commit(self) -> None:
        """Send the queued writes and release the lock, in one round trip."""
        self.store._commit(self)
        self.released = True
