"""A phone token lets an integration act for a number on that integration's own orders, not on the
number's orders with everyone else.

A buyer checking out at shop A gives shop A a one-time code; shop A gets a phone token for the
buyer's number. That token read every order of the number (with shop B, on USSD), each showing the
other party's number in full, and acted on them: shop A cancelled the buyer's unpaid order at its
competitor, could open disputes that freeze a competitor's payouts, and its wrong delivery codes
count against the number's daily limit. A careful buyer expects the code they gave shop A to let
shop A handle shop A's order. The API keys of an app that serves the person across channels (the
`orders:any` scope) still see them all."""
from tests.api.conftest import BUYER, SELLER, ApiClient, app, new_key  # noqa: F401 -- fixtures reused here

RIVAL_SELLER = "0733000444"


def test_a_shop_holding_a_buyers_token_neither_sees_nor_cancels_the_buyers_order_at_another_shop(app):  # noqa: F811
    shop_a, shop_b = ApiClient(app, new_key(app, name="shopa")), ApiClient(app, new_key(app, name="shopb"))
    at_b = shop_b.post("/v1/orders", {"seller_phone": RIVAL_SELLER, "amount": 1500, "item": "Kitenge"},
                       token=shop_b.verify(BUYER))
    assert at_b.status_code == 201, at_b.json
    reference = at_b.json["reference"]

    token_at_a = shop_a.verify(BUYER)                                  # the buyer checks out at shop A
    assert reference not in [order["reference"] for order in shop_a.get("/v1/orders", token=token_at_a).json["data"]]
    assert shop_a.get(f"/v1/orders/{reference}", token=token_at_a).status_code == 404
    cancelled = shop_a.post(f"/v1/orders/{reference}/cancel", token=token_at_a)
    assert cancelled.status_code == 404
    assert shop_b.get(f"/v1/orders/{reference}", token=shop_b.verify(BUYER)).json["state"] == "awaiting_payment"


def test_a_shop_still_acts_on_its_own_orders_and_an_app_with_orders_any_on_all(app):  # noqa: F811
    shop_a, shop_b = ApiClient(app, new_key(app, name="shopa")), ApiClient(app, new_key(app, name="shopb"))
    own = shop_a.post("/v1/orders", {"seller_phone": SELLER, "amount": 900, "item": "Kofia"},
                      token=shop_a.verify(BUYER)).json["reference"]
    other = shop_b.post("/v1/orders", {"seller_phone": RIVAL_SELLER, "amount": 1500, "item": "Kitenge"},
                        token=shop_b.verify(BUYER)).json["reference"]
    token = shop_a.verify(BUYER)
    assert [order["reference"] for order in shop_a.get("/v1/orders", token=token).json["data"]] == [own]
    assert shop_a.post(f"/v1/orders/{own}/cancel", token=token).json["state"] == "cancelled"

    app_key = ApiClient(app, new_key(app, name="zemiapp",
                                     scopes="verifications,orders:read,orders:write,orders:any"))
    seen = [order["reference"] for order in app_key.get("/v1/orders", token=app_key.verify(BUYER)).json["data"]]
    assert sorted(seen) == sorted([own, other])
