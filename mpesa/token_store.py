"""Where the Daraja access token lives between calls: Redis (shared by every worker) or memory.

`lock()` is single-flight: one caller fetches a token while the others wait, then re-read.
It yields True when the lock is held, False when waiting gave up (the caller re-reads and, if
still empty, fetches anyway rather than fail a payment over a lock).

A Redis outage must not stop money requests (issue 11, finding 2): RedisTokenStore keeps an
in-process copy of every token until it expires and answers from it when Redis errors; a Redis
error on set, discard or the lock is logged and otherwise ignored (the lock is then not held).
"""
import logging
import secrets
import threading
import time
from contextlib import contextmanager

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisTokenStore:
    """Tokens in Redis under `prefix`; the lock is SET NX PX with a random token, released safely."""

    def __init__(self, redis_client, prefix: str = "zemi:daraja:", poll_seconds: float = 0.05,
                 clock=time.monotonic):
        self._redis = redis_client
        self._prefix = prefix
        self._poll_seconds = poll_seconds
        self._local = InMemoryTokenStore(clock)   # this process's copy, for when Redis is down

    def get(self, key: str) -> str | None:
        try:
            value, ttl_ms = self._read(self._prefix + key)
        except RedisError as error:
            log.warning("token store: Redis unavailable (%s); using this process's copy", type(error).__name__)
            return self._local.get(key)
        if value is not None and ttl_ms and ttl_ms > 0:
            self._local.set(key, value, ttl_ms // 1000)
        return value

    def _read(self, name: str) -> tuple[str | None, int | None]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(name)
        pipe.pttl(name)
        value, ttl_ms = pipe.execute()
        return (value.decode() if isinstance(value, bytes) else value), ttl_ms

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        self._local.set(key, value, ttl_seconds)
        self._quietly("set", lambda: self._redis.set(self._prefix + key, value, ex=max(1, int(ttl_seconds))))

    def discard(self, key: str, value: str) -> None:
        """Delete `key` only while it still holds `value` (never a token someone just refreshed)."""
        self._local.discard(key, value)
        self._quietly("discard", lambda: self._redis.eval(_COMPARE_AND_DELETE, 1, self._prefix + key, value))

    @contextmanager
    def lock(self, key: str, timeout_seconds: float):
        name = f"{self._prefix}{key}:lock"
        token = secrets.token_hex(16)
        held = self._quietly("lock", lambda: self._acquire(name, token, timeout_seconds)) or False
        try:
            yield held
        finally:
            if held:
                self._quietly("unlock", lambda: self._redis.eval(_COMPARE_AND_DELETE, 1, name, token))

    @staticmethod
    def _quietly(what: str, action):
        """Run a Redis step whose failure must not fail the money request that needs the token."""
        try:
            return action()
        except RedisError as error:
            log.warning("token store: Redis %s failed (%s); carrying on without it", what, type(error).__name__)
            return None

    def _acquire(self, name: str, token: str, timeout_seconds: float) -> bool:
        deadline = time.monotonic() + timeout_seconds
        while not self._redis.set(name, token, nx=True, px=max(1, int(timeout_seconds * 1000))):
            if time.monotonic() >= deadline:
                return False
            time.sleep(self._poll_seconds)
        return True


class InMemoryTokenStore:
    """The same contract inside one process, for unit tests and single-process tools."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._values: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._guard:
            value, expires_at = self._values.get(key, (None, 0.0))
            return value if value is not None and self._clock() < expires_at else None

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        with self._guard:
            self._values[key] = (value, self._clock() + max(1, int(ttl_seconds)))

    def discard(self, key: str, value: str) -> None:
        with self._guard:
            if self._values.get(key, (None, 0.0))[0] == value:
                del self._values[key]

    @contextmanager
    def lock(self, key: str, timeout_seconds: float):
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        held = lock.acquire(timeout=timeout_seconds)
        try:
            yield held
        finally:
            if held:
                lock.release()
