"""The USSD session store's own Redis connections (ussd/session_store.py `_Connections`), on a real Redis:
hops one after another share one connection, a connection Redis dropped is replaced without the caller
noticing, and a round trip broken half way leaves no reply unread for the next hop to mistake for its own,
nor the session's lock held."""
import pytest
import redis

from ussd.session_store import RedisSessionStore

NAME = "zemi-store-connections-test"
PHONE = "+254711000401"


@pytest.fixture
def named(redis_url, redis_client):
    client = redis.Redis.from_url(redis_url, client_name=NAME)   # its connections carry the name
    yield client
    client.close()


def ours(redis_client) -> list[dict]:
    return [entry for entry in redis_client.client_list() if entry.get("name") == NAME]


def hop(store: RedisSessionStore, session_id: str, record: dict | None = None) -> dict | None:
    """One hop: what it read of the session, and `record` saved with its commit."""
    with store.hop(session_id, PHONE, dialled=False) as opened:
        seen = opened.record
        if record is not None:
            opened.save(record)
        opened.commit()
    return seen


def test_hops_one_after_another_share_one_connection(named, redis_client):
    store = RedisSessionStore(named)
    for step in range(6):
        hop(store, "ATUid_share", {"step": step})
    assert len(ours(redis_client)) == 1
    assert hop(store, "ATUid_share") == {"step": 5}


def test_a_connection_redis_dropped_is_replaced_and_the_hop_goes_through(named, redis_client):
    store = RedisSessionStore(named)
    hop(store, "ATUid_dropped", {"step": 1})
    (held,) = ours(redis_client)
    redis_client.client_kill_filter(_id=held["id"])
    assert hop(store, "ATUid_dropped", {"step": 2}) == {"step": 1}
    assert hop(store, "ATUid_dropped") == {"step": 2}
    assert [entry["id"] for entry in ours(redis_client)] != [held["id"]]


def test_a_round_trip_broken_half_way_leaves_no_reply_for_the_next_hop(named, redis_client, monkeypatch):
    store = RedisSessionStore(named)
    hop(store, "ATUid_broken", {"step": 1})
    read = redis.connection.AbstractConnection.read_response
    reads = {"count": 0}

    def fail_the_second_read(connection, *args, **kwargs):   # the opening round trip's second reply
        reads["count"] += 1
        if reads["count"] == 2:
            raise ValueError("the process was interrupted half way through the replies")
        return read(connection, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "read_response", fail_the_second_read)
    with pytest.raises(ValueError):
        hop(store, "ATUid_broken")
    monkeypatch.setattr(redis.connection.AbstractConnection, "read_response", read)
    assert not redis_client.exists(store._key("lock", "ATUid_broken")), "the broken hop let its lock go"
    assert hop(store, "ATUid_broken") == {"step": 1}   # its own replies, not the broken hop's leftovers
