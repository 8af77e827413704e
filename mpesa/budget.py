"""A budget for Daraja calls (issue 12): one token bucket per Daraja API, held in Redis so the web
processes and every worker share it, with an in-process bucket when Redis is unreachable.

A call takes a token before it leaves; without one it waits (it never skips, re-orders or repeats
a call: a budget delay only waits). Daraja's rate-limit answers (HTTP 429, spike arrest 500.003.02,
quota 500.003.03) make every process hold off that API for DARAJA_BACKOFF_SECONDS. A call that
would wait longer than DARAJA_BUDGET_MAX_WAIT_SECONDS is not sent at all: it fails before any byte
leaves (BudgetExhausted, a connect-phase error), which the client reports as "not sent", so the
outbox retries it later and nothing is doubtful.
"""
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import urlsplit

import requests
from redis.exceptions import RedisError

from escrow.errors import ConfigError

log = logging.getLogger(__name__)
RATE_LIMIT_CODES = ("500.003.02", "500.003.03")   # spike arrest, quota (protocols.md C.11)

# KEYS: bucket hash, hold-off key. ARGV: now, rate per second, burst. Returns the seconds to wait
# (as a string: Redis would truncate a Lua number), "0" when a token was taken.
_TAKE = """
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local hold = tonumber(redis.call('GET', KEYS[2]) or '0')
if hold > now then return tostring(hold - now) end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = '0'
if tokens >= 1 then tokens = tokens - 1 else wait = tostring((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return wait
"""


class BudgetExhausted(requests.exceptions.RequestException):
    """The call would wait past DARAJA_BUDGET_MAX_WAIT_SECONDS; it was not sent."""


@dataclass(frozen=True)
class BudgetSettings:
    calls_per_second: float = 20.0     # Safaricom publishes no TPS (protocols.md C.11): generous
    burst: int = 40
    max_wait_seconds: float = 20.0
    backoff_seconds: float = 5.0

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "BudgetSettings":
        names = {"calls_per_second": "DARAJA_CALLS_PER_SECOND", "burst": "DARAJA_BURST",
                 "max_wait_seconds": "DARAJA_BUDGET_MAX_WAIT_SECONDS", "backoff_seconds": "DARAJA_BACKOFF_SECONDS"}
        values = {}
        for name, key in names.items():
            raw = env.get(key)
            if raw in (None, ""):
                continue
            try:
                values[name] = int(raw) if name == "burst" else float(raw)
            except ValueError:
                raise ConfigError(f"{key} must be a number, got {raw!r}") from None
            if not 0 <= values[name] <= 1e6 or (name in ("calls_per_second", "burst") and values[name] <= 0):
                raise ConfigError(f"{key} is out of range: {raw!r}")
        return cls(**values)


class CallBudget:
    def __init__(self, redis_client, settings: BudgetSettings, *, prefix: str = "zemi:budget:",
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self._redis, self.settings, self._prefix = redis_client, settings, prefix
        self._clock, self._sleep = clock, sleep
        self._take_script = redis_client.register_script(_TAKE) if redis_client is not None else None
        self._local = _LocalBuckets(settings)

    def wait(self, api: str) -> float:
        """Take a token for `api`, sleeping as long as needed; the seconds waited. BudgetExhausted
        when that would pass max_wait_seconds (then nothing was taken or sent)."""
        waited = 0.0
        while True:
            wait = self._take(api)
            if wait <= 0:
                return waited
            if waited + wait > self.settings.max_wait_seconds:
                raise BudgetExhausted(f"Daraja call budget for {api}: would wait {waited + wait:.1f} s")
            self._sleep(wait)
            waited += wait

    def back_off(self, api: str) -> None:
        """Daraja said slow down: hold every process off `api` for backoff_seconds."""
        until = self._clock() + self.settings.backoff_seconds
        log.warning("Daraja rate limit on %s: holding calls for %.0f s", api, self.settings.backoff_seconds)
        self._local.hold(api, until)
        try:
            self._redis.set(self._key(api, "hold"), repr(until), ex=int(self.settings.backoff_seconds) + 1)
        except (RedisError, AttributeError):
            pass

    def _take(self, api: str) -> float:
        now = self._clock()
        try:
            return float(self._take_script(keys=[self._key(api, "bucket"), self._key(api, "hold")],
                                           args=[repr(now), repr(self.settings.calls_per_second),
                                                 self.settings.burst]))
        except (RedisError, TypeError) as error:
            log.warning("call budget: Redis unavailable (%s); this process's bucket", type(error).__name__)
            return self._local.take(api, now)

    def _key(self, api: str, part: str) -> str:
        return f"{self._prefix}{{{api}}}:{part}"   # one hash slot per API (Redis Cluster)


class _LocalBuckets:
    """The same bucket in this process only, for when Redis is down."""

    def __init__(self, settings: BudgetSettings):
        self._settings, self._lock = settings, threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._holds: dict[str, float] = {}

    def take(self, api: str, now: float) -> float:
        rate, burst = self._settings.calls_per_second, self._settings.burst
        with self._lock:
            if self._holds.get(api, 0) > now:
                return self._holds[api] - now
            tokens, at = self._buckets.get(api, (float(burst), now))
            tokens = min(burst, tokens + max(0.0, now - at) * rate)
            if tokens >= 1:
                self._buckets[api] = (tokens - 1, now)
                return 0.0
            self._buckets[api] = (tokens, now)
            return (1 - tokens) / rate

    def hold(self, api: str, until: float) -> None:
        with self._lock:
            self._holds[api] = until


def api_of(url: str) -> str:
    """'/mpesa/stkpush/v1/processrequest' -> 'stkpush'; '/pulltransactions/v1/query' -> 'pulltransactions'."""
    parts = [part for part in urlsplit(url).path.split("/") if part]
    if parts and parts[0] == "mpesa":
        parts = parts[1:]
    return (parts[0] if parts else "other")[:32]


class BudgetedSession(requests.Session):
    """The Daraja client's HTTP session: every request waits for its API's budget first."""

    def __init__(self, budget: CallBudget):
        super().__init__()
        self.budget = budget

    def request(self, method, url, *args, **kwargs):
        api = api_of(url)
        self.budget.wait(api)
        response = super().request(method, url, *args, **kwargs)
        if response.status_code == 429 or _error_code(response) in RATE_LIMIT_CODES:
            self.budget.back_off(api)
        return response


def _error_code(response: requests.Response) -> str | None:
    if response.status_code < 400 or len(response.content) > 4096:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body.get("errorCode")) if isinstance(body, dict) else None
