"""Idempotency-Key with Stripe's semantics, scoped to the API key, held by a unique constraint."""
import json
import threading

import pytest
from sqlalchemy import func, select

from escrow.models import ApiIdempotency, Order
from tests.api.conftest import BUYER, SELLER, ApiClient, new_key

ORDER = {"seller_phone": SELLER, "amount": 1500, "item": "Shoes"}


def orders(app) -> int:
    with app.extensions["zemi"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Order))


def test_the_same_key_and_body_return_the_first_response(app, shop):
    token = shop.verify(BUYER)
    first = shop.post("/v1/orders", ORDER, token=token, idem="order-1")
    again = shop.post("/v1/orders", ORDER, token=token, idem="order-1")
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert orders(app) == 1


def test_an_error_is_replayed_too_even_when_the_request_would_now_succeed(app, shop):
    token = shop.verify(BUYER)
    refused = shop.post("/v1/orders", {**ORDER, "seller_phone": BUYER}, token=token, idem="same-number")
    assert refused.status_code == 409 and refused.json["type"] == "urn:zemi:problem:not-allowed"
    assert shop.post("/v1/orders", {**ORDER, "seller_phone": BUYER}, token=token, idem="same-number").json \
        == refused.json
    no_token = shop.post("/v1/orders", ORDER, idem="before-consent")
    assert no_token.status_code == 401
    retried = shop.post("/v1/orders", ORDER, token=token, idem="before-consent")   # now with consent: still
    assert retried.status_code == 401 and retried.headers["Idempotent-Replayed"] == "true"  # the first answer
    assert orders(app) == 0


def test_the_same_key_with_another_body_is_a_422(app, shop):
    token = shop.verify(BUYER)
    assert shop.post("/v1/orders", ORDER, token=token, idem="k").status_code == 201
    other = shop.post("/v1/orders", {**ORDER, "amount": 1600}, token=token, idem="k")
    assert other.status_code == 422 and other.json["type"] == "urn:zemi:problem:idempotency-key-reused"
    assert orders(app) == 1


def test_keys_belong_to_one_api_key_and_a_post_without_one_is_refused(app, shop):
    token = shop.verify(BUYER)
    assert shop.post("/v1/orders", ORDER, token=token, idem="shared").status_code == 201
    neighbour = ApiClient(app, new_key(app, name="neighbour"))
    neighbour_token = neighbour.verify(BUYER)
    assert neighbour.post("/v1/orders", ORDER, token=neighbour_token, idem="shared").status_code == 201
    assert orders(app) == 2
    bare = shop.client.post("/v1/orders", json=ORDER, headers={"Authorization": f"Bearer {shop.key}",
                                                               "Zemi-Phone-Token": token})
    assert bare.status_code == 400 and bare.json["type"] == "urn:zemi:problem:idempotency-key-missing"


def test_a_duplicate_while_the_first_still_runs_is_a_409(app, shop):
    token = shop.verify(BUYER)
    inside, release = threading.Event(), threading.Event()
    service = app.extensions["zemi"].service
    original = service.create_order

    def slow_create_order(**kwargs):
        inside.set()
        release.wait(10)
        return original(**kwargs)

    service.create_order = slow_create_order
    first = {}
    worker = threading.Thread(target=lambda: first.update(
        response=ApiClient(app, shop.key).post("/v1/orders", ORDER, token=token, idem="racing")))
    worker.start()
    assert inside.wait(10)
    duplicate = shop.post("/v1/orders", ORDER, token=token, idem="racing")
    release.set()
    worker.join(10)
    assert duplicate.status_code == 409 and duplicate.json["type"] == "urn:zemi:problem:idempotency-in-progress"
    assert first["response"].status_code == 201 and orders(app) == 1


def test_sixteen_identical_requests_at_once_make_one_order(app, shop):
    """On PostgreSQL (DATABASE_URL) this is the real race: the unique constraint decides."""
    token = shop.verify(BUYER)
    barrier, answers = threading.Barrier(16), []

    def send():
        client = ApiClient(app, shop.key)
        barrier.wait()
        answers.append(client.post("/v1/orders", ORDER, token=token, idem="burst"))

    threads = [threading.Thread(target=send) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 16 and orders(app) == 1
    created = [a for a in answers if a.status_code == 201]
    assert created and all(a.json == created[0].json for a in created)
    assert all(a.status_code in (201, 409) for a in answers)
    with app.extensions["zemi"].db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ApiIdempotency)
                              .where(ApiIdempotency.key == "burst")) == 1
    assert json.loads(shop.post("/v1/orders", ORDER, token=token, idem="burst").data) == created[0].json


def age_keys(app, hours: float, *keys: str) -> None:
    from datetime import timedelta
    with app.extensions["zemi"].db.transaction() as session:
        for row in session.scalars(select(ApiIdempotency).where(ApiIdempotency.key.in_(keys))):
            row.created_at -= timedelta(hours=hours)


def keys_kept(app) -> set[str]:
    with app.extensions["zemi"].db.transaction() as session:
        return set(session.scalars(select(ApiIdempotency.key)))


def test_the_worker_deletes_keys_older_than_a_day_and_keeps_the_rest(app, shop):
    token = shop.verify(BUYER)
    for key in ("old-1", "old-2", "young"):
        assert shop.post("/v1/orders", {**ORDER, "amount": 1500 + len(key)}, token=token, idem=key).status_code == 201
    age_keys(app, 24.5, "old-1", "old-2")
    age_keys(app, 23, "young")
    worker = app.extensions["zemi"].worker()
    worker.run_once()

    kept = keys_kept(app)
    assert "old-1" not in kept and "old-2" not in kept and "young" in kept
    replay = shop.post("/v1/orders", {**ORDER, "amount": 1505}, token=token, idem="young")
    assert replay.headers.get("Idempotent-Replayed") == "true"       # still within its 24 hours


def test_the_purge_goes_in_bounded_batches(app, shop):
    from api.idempotency import purge_expired
    token = shop.verify(BUYER)
    keys = [f"batch-{n}" for n in range(7)]
    for key in keys:                       # refused orders (same number) are stored like any answer
        shop.post("/v1/orders", {**ORDER, "seller_phone": BUYER}, token=token, idem=key)
    age_keys(app, 25, *keys)
    db = app.extensions["zemi"].db

    assert purge_expired(db, batch=3, batches=2) == 6        # two DELETEs of three, then it stops
    assert purge_expired(db, batch=3, batches=2) == 1
    assert not keys_kept(app) & set(keys)
