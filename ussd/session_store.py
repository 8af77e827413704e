"""RedisSessionStore: USSD session records, resume offers, rate counters and AT's session events.

Keys (all under `prefix`):
  session:<sessionId>   JSON session record, expires after `ttl_seconds`
  resume:<digest>       JSON resume offer for a phone number, keyed by a keyed digest of it
  rate:<digest>:<min>   hop counter for one phone number in one clock minute
  lock:<sessionId>      short lock so that two copies of one hop never run together
  lang:<digest>         the phone's language as last chosen on USSD (a day's cache of the core's)
  limits:<digest>       "pay" or "request": the number passed the core's limits look for that journey
                        (paying covers requesting) within the last LIMITS_PASS_TTL_SECONDS; deleted when
                        an order or a payment prompt is made for the number (EscrowService.watch_orders)
  events                list of AT end-of-session notifications (newest first, capped)
  first-dials           sorted set: the keyed hashes (the core's, escrow/greeting.py) of numbers greeted as
                        new, scored by when; the worker writes their profiles (ussd/first_dials.py)
Redis only holds convenience data: orders, languages and delivery-code attempts live in the core.
A hop costs two round trips: `hop()` reads everything it needs in one pipeline (the dial hop also reads
the number's resume offer, language and limits pass), and `OpenHop.commit()` writes everything back and
releases the lock in another (on a Redis Cluster the release is a third: a cluster pipeline cannot carry
the compare-and-delete script). On one node each pipeline is written straight on a connection the store
keeps (`_round_trip`, `_Connections`); tests/integration/test_ussd_round_trips.py holds the counts.
"""
import hashlib
import hmac
import json
import os
import threading
import time
import logging
import uuid
from contextlib import contextmanager, suppress

from redis.cluster import RedisCluster
try:   # the C packer redis-py itself uses when present (requirements.txt); its own otherwise
    from hiredis import pack_command as _pack_with_hiredis
except ImportError:   # pragma: no cover - hiredis is in requirements.txt; the benchmark's A/B hides it
    _pack_with_hiredis = None
from redis.exceptions import RedisError, ResponseError

from escrow.errors import InvalidPhoneNumber
from escrow.phone import normalize_msisdn

from ussd.errors import StoreUnavailable

EVENTS_KEPT = 1_000
LANGUAGE_TTL_SECONDS = 86_400
# How long a pass of the limits look spares the next journeys their database read. The look is advisory
# (create_order counts again, under its lock); a pass that went stale meanwhile (orders made for the
# number where no watcher saw them, another process's) at worst lets a caller reach the summary and be
# refused there, as before limits were looked at on the first screen. Refusals are never kept.
LIMITS_PASS_TTL_SECONDS = 60
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
        self._this_thread = threading.local()   # the hop this thread has open, if any
        self._connections = _Connections(redis_client) if self._one_node else None

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
        exit, and so it is when the opening round trip itself breaks (the lock may have been taken before
        the replies were lost); if even that fails, the lock expires after `hold_seconds`."""
        opened = OpenHop(self, session_id, phone, uuid.uuid4().hex)
        try:
            self._open(opened, dialled, hold_seconds, time.monotonic() + wait_seconds)
        except BaseException:
            with suppress(Exception):   # the first error is the one to raise
                self._release_quietly(opened)   # only if it is ours: a busy session's lock is another hop's
            raise
        self._this_thread.hop = opened
        try:
            yield opened
        finally:
            self._this_thread.hop = None
            if not opened.released:
                self._release_quietly(opened)

    def _open(self, opened: "OpenHop", dialled: bool, hold_seconds: int, deadline: float) -> None:
        rate_key = self._key("rate", f"{opened.phone_key}:{int(self.clock() // 60)}")
        take_lock = ("SET", opened.lock_key, opened.token, "NX", "EX", hold_seconds)
        commands = [("INCR", rate_key), ("EXPIRE", rate_key, 120), take_lock, ("GET", opened.session_key)]
        if dialled:
            commands += [("GET", opened.resume_key), ("GET", opened.language_key), ("GET", opened.limits_key)]
        count, _, locked, raw, *dial = self._round_trip(commands)
        while not locked:
            if time.monotonic() > deadline:
                raise StoreUnavailable("session is busy")
            time.sleep(0.05)
            locked, raw = self._round_trip([take_lock, ("GET", opened.session_key)])
        opened.hops_this_minute = int(count)
        opened.record = json.loads(raw) if raw else None
        if dial:
            opened.resume = json.loads(dial[0]) if dial[0] else None
            opened.language = dial[1].decode() if dial[1] else None
            opened.limits_pass = dial[2].decode() if dial[2] else None

    def _commit(self, opened: "OpenHop") -> None:
        release = ("EVAL", _RELEASE_IF_OURS, 1, opened.lock_key, opened.token)
        if self._one_node:
            self._round_trip(opened.writes + [release])
            return
        self._round_trip(opened.writes)
        self.redis.eval(*release[1:])   # a cluster pipeline carries no scripts: release on its own

    def _round_trip(self, commands: list[tuple]) -> list:
        """Send `commands` together and read every reply (a ResponseError among them is raised once all
        are read): a pipeline. On one node, straight on a connection the store keeps, with the client's
        retry on a lost connection: redis-py's Pipeline adds about as much CPU again per hop, for
        bookkeeping a hop does not use. A Redis Cluster client gets a (non-transactional) cluster pipeline."""
        if not self._one_node:
            with self.redis.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                return pipe.execute()
        with self._connections.one() as connection:
            return connection.retry.call_with_retry(lambda: _send_and_read(connection, commands),
                                                    lambda _error: connection.disconnect())

    def _release_quietly(self, opened: "OpenHop") -> None:
        try:
            self.redis.eval(_RELEASE_IF_OURS, 1, opened.lock_key, opened.token)
        except RedisError as exc:
            log.warning("ussd session lock left to expire: %s", type(exc).__name__)

    def load(self, session_id: str) -> dict | None:
        """A session's record, outside any hop (for the end-of-session timings)."""
        raw = self.redis.get(self._key("session", session_id))
        return json.loads(raw) if raw else None

    def forget_limit_passes(self, phones) -> None:
        """The numbers' limits passes no longer hold (an order or a payment prompt was just made for
        them): their next journey looks at the core's counts again. Made during a hop this thread has
        open (the USSD confirm), they go with that hop's commit: no round trip of their own. (Should
        that commit fail, a pass outlives the order by its minute at most: create_order counts again.)"""
        keys = {self._key("limits", self.phone_key(phone)) for phone in phones if phone}
        opened = getattr(self._this_thread, "hop", None)
        if opened is not None and not opened.released:   # made during this thread's hop: with its commit
            opened.writes.extend(("DEL", key) for key in sorted(keys))
        elif keys:
            self.redis.delete(*keys)   # a Redis Cluster client splits the keys by slot

    # ---- new numbers' first dials (escrow/greeting.py), recorded by the worker ------------
    def first_dials(self, count: int) -> list[tuple[str, float]]:
        """The oldest `count` dials waiting: (the core's key of the number, when it was queued)."""
        return [(member.decode(), at) for member, at in
                self.redis.zrange(self._key("first-dials", None), 0, count - 1, withscores=True)]

    def drop_first_dials(self, keys: list[str]) -> None:
        if keys:
            self.redis.zrem(self._key("first-dials", None), *keys)

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


def _send_and_read(connection, commands: list[tuple]) -> list:
    if _pack_with_hiredis is not None:   # our commands are plain (no "CLIENT SETNAME"-style names to split)
        connection.send_packed_command([b"".join([_pack_with_hiredis(command) for command in commands])])
    else:
        connection.send_packed_command(connection.pack_commands(commands))
    replies = []
    for _ in commands:
        try:
            replies.append(connection.read_response())
        except ResponseError as error:   # read the rest first: the connection stays in step
            replies.append(error)
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    return replies


class _Connections:
    """Connections to one Redis node taken from the client's pool once and kept by the store for reuse
    (last in, first out): redis-py's checkout and return cost a light hop more CPU than its Redis work
    (metrics bookkeeping and locks, twice per hop). They stay the pool's, so closing the client closes
    them (a later hop reconnects). As the pool does, one the server closed while it sat idle (a
    restart, an idle timeout) is reconnected before use, whatever retries the client allows. A
    connection whose round trip did not end cleanly is closed before it is kept, so no reply is ever
    left unread on it; a forked process starts with none of its parent's."""

    def __init__(self, redis_client):
        self._pool, self._idle, self._pid = redis_client.connection_pool, [], os.getpid()

    @contextmanager
    def one(self):
        connection = self._take()
        try:
            yield connection
        except BaseException:
            connection.disconnect()
            raise
        finally:
            self._idle.append(connection)

    def _take(self):
        if self._pid != os.getpid():   # a forked child: the parent's sockets are not ours to use
            self._idle, self._pid = [], os.getpid()
        try:
            connection = self._idle.pop()
        except IndexError:
            return self._pool.get_connection()   # never released: ours for the store's life
        try:
            if connection.can_read():   # nothing is left unread here: the server closed it while it was idle
                connection.disconnect()   # it reconnects as it sends
        except (RedisError, OSError):
            connection.disconnect()
        return connection


class OpenHop:
    """What one hop read from Redis, and the writes it queues for its single commit."""

    def __init__(self, store: RedisSessionStore, session_id: str, phone: str, token: str):
        self.store, self.token = store, token
        self.phone_key = store.phone_key(phone)
        self.session_key = store._key("session", session_id)
        self.lock_key = store._key("lock", session_id)
        self.resume_key = store._key("resume", self.phone_key)
        self.language_key = store._key("lang", self.phone_key)
        self.limits_key = store._key("limits", self.phone_key)
        self.hops_this_minute = 0
        self.record: dict | None = None
        self.resume: dict | None = None       # read on the dial hop only
        self.language: str | None = None      # read on the dial hop only; None when not remembered
        self.limits_pass: str | None = None   # read on the dial hop only: "pay", "request" or None
        self.writes: list[tuple] = []         # Redis commands, sent with the lock's release by commit()
        self.released = False

    def save(self, record: dict) -> None:
        self.writes.append(("SET", self.session_key, json.dumps(record), "EX", self.store.ttl))

    def offer_resume(self, point: dict | None) -> None:
        """Keep `point` as the phone's resume offer, or withdraw the offer when it is None."""
        if point is None:
            self.writes.append(("DEL", self.resume_key))
        else:
            self.writes.append(("SET", self.resume_key, json.dumps(point), "EX", self.store.resume_ttl))

    def remember_language(self, language: str) -> None:
        self.writes.append(("SET", self.language_key, language, "EX", self.store.language_ttl))

    def queue_first_dial(self, key: str) -> None:
        """A number greeted as new (Welcome.key): the worker records it; a second queuing keeps the first time."""
        self.writes.append(("ZADD", self.store._key("first-dials", None), "NX", repr(self.store.clock()), key))

    def remember_limits_pass(self, journey: str) -> None:
        self.writes.append(("SET", self.limits_key, journey, "EX", LIMITS_PASS_TTL_SECONDS))

    def commit(self) -> None:
        """Send the queued writes and release the lock, in one round trip."""
        self.store._commit(self)
        self.released = True
