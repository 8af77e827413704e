"""Orders through the API on the live service with the simulator: payment status by order and by
checkout id, pay again, a dispute, a seller's cancel; and delivery-code attempts counted together
with USSD's."""
import requests

from tests.e2e.test_api_journey import Shop, verify
from tests.e2e.test_journey import settle

BUYER, SELLER = "0712345678", "0722000111"


def shop_for(live) -> Shop:
    key = live.cli("apikeys", "create", "shop", "--scopes",
                   "verifications,orders:read,orders:write,payment_links").stdout.strip().splitlines()[0]
    return Shop(live.base_url, key)


def funded_order(live, simulator, shop: Shop, buyer: str) -> str:
    created = shop.post("/v1/orders", {"seller_phone": SELLER, "amount": 1000, "item": "Radio"}, token=buyer)
    assert created.status_code == 201
    settle(live, simulator)
    return created.json()["reference"]


def test_wrong_codes_over_the_api_and_ussd_count_together(live, simulator):
    shop = shop_for(live)
    buyer, seller = verify(live, shop, BUYER), verify(live, shop, SELLER)
    reference = funded_order(live, simulator, shop, buyer)
    code = live.delivery_code("+254712345678")
    wrong = "000000" if code != "000000" else "111111"
    live.dial("+254722000111", "4", wrong)          # one miss on USSD
    answers = [shop.post(f"/v1/orders/{reference}/confirm-delivery", {"code": wrong}, token=seller).json()
               for _ in range(4)]
    assert [a.get("remaining") for a in answers[:3]] == [3, 2, 1]
    assert answers[3]["type"] == "urn:zemi:problem:code-locked"
    locked = shop.post(f"/v1/orders/{reference}/confirm-delivery", {"code": code}, token=seller)
    assert locked.status_code == 423                 # even the right code, until a new one is issued
    assert shop.get(f"/v1/orders/{reference}", seller).json()["state"] == "funded"


def test_payment_status_by_order_and_checkout_id_then_a_dispute(live, simulator):
    shop = shop_for(live)
    buyer = verify(live, shop, BUYER)
    reference = funded_order(live, simulator, shop, buyer)
    status = shop.get(f"/v1/orders/{reference}/payment", buyer).json()
    assert status["status"] == "succeeded" and status["order_state"] == "funded"
    by_checkout = shop.get(f"/v1/payments/{status['checkout_id']}", buyer).json()
    assert by_checkout == status
    other = Shop(live.base_url, live.cli("apikeys", "create", "other", "--scopes", "orders:read")
                 .stdout.strip().splitlines()[0])
    assert other.get(f"/v1/payments/{status['checkout_id']}", buyer).status_code == 404
    disputed = shop.post(f"/v1/orders/{reference}/disputes", {"reason": "damaged"}, token=buyer)
    assert disputed.json()["state"] == "disputed" and disputed.json()["actions"] == []


def test_pay_again_after_a_cancelled_prompt_and_the_seller_cancels_with_a_refund(live, simulator):
    shop = shop_for(live)
    buyer, seller = verify(live, shop, BUYER), verify(live, shop, SELLER)
    simulator.set_scenario("254712345678", "cancelled", 1)   # the buyer cancels the first prompt
    created = shop.post("/v1/orders", {"seller_phone": SELLER, "amount": 900, "item": "Lamp"}, token=buyer).json()
    settle(live, simulator)
    reference = created["reference"]
    assert shop.get(f"/v1/orders/{reference}/payment", buyer).json()["result_code"] == "1032"
    assert shop.get(f"/v1/orders/{reference}", buyer).json()["state"] == "awaiting_payment"
    assert shop.post(f"/v1/orders/{reference}/pay-again", token=buyer).status_code == 200
    settle(live, simulator)
    assert shop.get(f"/v1/orders/{reference}", buyer).json()["state"] == "funded"
    cancelled = shop.post(f"/v1/orders/{reference}/cancel", token=seller).json()
    assert cancelled["state"] == "refunding"
    settle(live, simulator)
    assert shop.get(f"/v1/orders/{reference}", buyer).json()["state"] == "refunded"
    assert requests.get(f"{live.base_url}/v1/orders/{reference}", timeout=10).status_code == 401
