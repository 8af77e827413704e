"""Forgetting one number in Redis (the erasure's port, composed in app.py): every key whose name, or
whose value, holds the number in any form, its keyed look-up hash or the USSD store's digest of it.

Redis holds only convenience data (USSD sessions, resume offers, hop counters, cached languages;
see ussd/session_store.py), so a key that names the number is deleted whole; in a list, hash or set
only the members that name it are removed. One SCAN over the database: fine for an erasure, which
is rare. On a Redis Cluster, every primary is scanned.
"""
import hashlib

from redis.cluster import RedisCluster

from escrow.phone import to_e164, to_local
from ussd.session_store import digest


def needles_for(number: str, phone_key: str, secret_key: str) -> set[bytes]:
    """Every form in which the number may stand in a key or a value."""
    forms = {number, to_local(number), to_e164(number), "%2B" + number, phone_key, digest(number, secret_key),
             hashlib.sha256(number.encode()).hexdigest()}
    return {form.encode() for form in forms if form}


def redis_forgetter(client, secret_key: str):
    """forget(number, phone_key) -> how many keys were deleted or changed."""
    def forget(number: str, phone_key: str) -> int:
        needles = needles_for(number, phone_key, secret_key)
        return sum(_forget_key(client, key, needles) for key in _all_keys(client))
    return forget


def _all_keys(client):
    if isinstance(client, RedisCluster):
        return client.scan_iter(count=500, target_nodes=RedisCluster.PRIMARIES)
    return client.scan_iter(count=500)


def _holds(value, needles: set[bytes]) -> bool:
    value = value if isinstance(value, bytes) else str(value).encode()
    return any(needle in value for needle in needles)


def _forget_key(client, key, needles: set[bytes]) -> int:
    if _holds(key, needles):
        return client.delete(key)
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        return client.delete(key) if _holds(client.get(key) or b"", needles) else 0
    if kind == "list":
        members = [m for m in client.lrange(key, 0, -1) if _holds(m, needles)]
        return sum(client.lrem(key, 0, member) for member in members) and 1
    if kind == "hash":
        fields = [f for f, v in client.hgetall(key).items() if _holds(f, needles) or _holds(v, needles)]
        return client.hdel(key, *fields) and 1 if fields else 0
    if kind == "set":
        members = [m for m in client.smembers(key) if _holds(m, needles)]
        return client.srem(key, *members) and 1 if members else 0
    if kind == "zset":
        members = [m for m, _ in client.zrange(key, 0, -1, withscores=True) if _holds(m, needles)]
        return client.zrem(key, *members) and 1 if members else 0
    return 0
