"""An Idempotency-Key names one request: the same key sent for another number (another phone token)
is not that request. Replaying the first number's answer to the second told it an action was done
for it that was not (and showed it the first number's order)."""
from tests.api.conftest import BUYER, SELLER, app, shop  # noqa: F401 -- fixtures reused here


def test_the_same_key_for_another_numbers_request_is_refused_not_replayed(shop):  # noqa: F811
    buyer, other = shop.verify(BUYER), shop.verify("0733000222")
    body = {"seller_phone": SELLER, "amount": 1500, "item": "Kitenge"}
    first = shop.post("/v1/orders", body, token=buyer, idem="order-1")
    assert first.status_code == 201, first.json
    again = shop.post("/v1/orders", body, token=other, idem="order-1")
    assert again.status_code == 422 and "idempotency-key-reused" in again.json["type"]
    assert again.headers.get("Idempotent-Replayed") is None
