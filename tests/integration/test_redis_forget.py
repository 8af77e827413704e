"""Forgetting one number in Redis (redis_forget.py, the erasure's port) on a real Redis: keys naming
it in any form go, values holding it go, members of lists, hashes, sets and sorted sets holding it go,
and everything about other numbers stays."""
from redis_forget import needles_for, redis_forgetter
from ussd.session_store import digest

NUMBER, OTHER, KEY, SECRET = "254712345678", "254722000111", "ab" * 32, "secret"


def test_every_key_or_member_holding_the_number_in_any_form_is_removed_and_nothing_else(redis_client):
    r = redis_client
    mine, theirs = digest(NUMBER, SECRET), digest(OTHER, SECRET)
    r.set(f"zemi:ussd:lang:{mine}", "sw")
    r.set(f"zemi:ussd:lang:{theirs}", "en")
    r.set("zemi:ussd:session:ATUid_1", '{"phone": "+254712345678", "screen": "home"}')
    r.set("zemi:ussd:session:ATUid_2", '{"phone": "+254722000111", "screen": "home"}')
    r.set(f"zemi:api:rate:{KEY}", 3)
    r.lpush("zemi:ussd:events", '{"phone": "0712345678"}', '{"phone": "0722***111"}')
    r.hset("zemi:h", mapping={"a": "07 is 0712345678", "b": "nothing"})
    r.sadd("zemi:s", f"x{mine}", "y")
    r.zadd("zemi:z", {f"%2B{NUMBER}": 1, "z": 2})

    changed = redis_forgetter(r, SECRET)(NUMBER, KEY)

    assert changed == 7
    assert sorted(r.keys()) == sorted([f"zemi:ussd:lang:{theirs}".encode(), b"zemi:ussd:session:ATUid_2",
                                       b"zemi:ussd:events", b"zemi:h", b"zemi:s", b"zemi:z"])
    assert r.lrange("zemi:ussd:events", 0, -1) == [b'{"phone": "0722***111"}']
    assert r.hgetall("zemi:h") == {b"b": b"nothing"} and r.smembers("zemi:s") == {b"y"}
    assert r.zrange("zemi:z", 0, -1) == [b"z"]
    assert redis_forgetter(r, SECRET)(NUMBER, KEY) == 0, "a second run finds nothing"


def test_the_needles_cover_every_form_a_number_is_written_in():
    assert needles_for(NUMBER, KEY, SECRET) >= {b"254712345678", b"0712345678", b"+254712345678",
                                                b"%2B254712345678", KEY.encode(), digest(NUMBER, SECRET).encode()}
