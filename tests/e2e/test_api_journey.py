"""The shop's journey over HTTP on the embedded defaults, with only the README and the OpenAPI
document: a payment link, the buyer on the pay page, signed webhooks as the order is funded,
dispatched and paid out, and delivery confirmed with the code through the API."""
import json
import re

import requests
from standardwebhooks.webhooks import Webhook

from tests.api.webhook_receiver import WebhookReceiver
from tests.e2e.test_journey import settle

BUYER, SELLER = "0712345678", "0722000111"


class Shop:
    def __init__(self, base_url: str, key: str):
        self.base_url, self.key, self.calls = base_url, key, 0

    def post(self, path, body=None, token=None):
        self.calls += 1
        headers = {"Authorization": f"Bearer {self.key}", "Idempotency-Key": f"journey-{self.calls}"}
        if token:
            headers["Zemi-Phone-Token"] = token
        return requests.post(self.base_url + path, json=body, headers=headers, timeout=10)

    def get(self, path, token):
        return requests.get(self.base_url + path, headers={"Authorization": f"Bearer {self.key}",
                                                           "Zemi-Phone-Token": token}, timeout=10)


def verify(live, shop: Shop, phone: str) -> str:
    started = shop.post("/v1/verifications", {"phone": phone})
    assert started.status_code == 201
    code = re.search(r"\b(\d{6})\b", live.texts_to(phone)[-1]).group(1)
    checked = shop.post(f"/v1/verifications/{started.json()['id']}/check", {"code": code})
    assert checked.status_code == 200
    return checked.json()["token"]


def test_a_shop_sells_through_a_payment_link_and_follows_the_order_by_webhooks(live, simulator):
    assert requests.get(f"{live.base_url}/v1/openapi.json", timeout=10).json()["openapi"] == "3.1.0"
    key = live.cli("apikeys", "create", "kitenge-shop", "--scopes",
                   "verifications,orders:read,orders:write,payment_links").stdout.strip().splitlines()[0]
    with WebhookReceiver() as hooks:
        secret = live.cli("webhooks", "add", "kitenge-shop", hooks.url).stdout.strip().splitlines()[-1]
        shop = Shop(live.base_url, key)
        seller = verify(live, shop, SELLER)
        link = shop.post("/v1/payment-requests", {"amount": 1500, "item": "Blue kitenge"}, token=seller)
        assert link.status_code == 201 and link.json()["open"] is True
        url = link.json()["url"]
        assert url.startswith(f"{live.base_url}/p/")

        buyer = requests.Session()             # the buyer's browser: the page's cookie, then its form
        page = buyer.get(url, timeout=10)
        assert "Blue kitenge" in page.text and "1,500" in page.text and "0722***111" in page.text
        form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
        assert "csrf" in form
        paid = buyer.post(url, data={**form, "phone": BUYER, "action": "pay"}, timeout=10)
        assert paid.status_code == 200 and "A prompt was sent to 0712***678" in paid.text
        settle(live, simulator)
        progress = buyer.get(paid.url, timeout=10).text
        code = live.delivery_code("+254712345678")
        assert "went by SMS to 0712***678" in progress and code not in progress

        orders = shop.get("/v1/orders", seller).json()["data"]
        assert len(orders) == 1 and orders[0]["state"] == "funded" and orders[0]["role"] == "seller"
        reference = orders[0]["reference"]
        assert shop.post(f"/v1/orders/{reference}/dispatch", token=seller).json()["state"] == "dispatched"
        confirmed = shop.post(f"/v1/orders/{reference}/confirm-delivery", {"code": code}, token=seller)
        assert confirmed.status_code == 200 and confirmed.json()["state"] == "released"
        settle(live, simulator)
        assert shop.get(f"/v1/orders/{reference}", seller).json()["state"] == "paid_out"

        assert hooks.types() == ["order.funded", "order.dispatched", "order.released", "order.paid_out"]
        for delivery in hooks.received:
            event = Webhook(secret).verify(delivery["body"], delivery["headers"])
            assert event["data"]["reference"] == reference
        assert json.loads(hooks.received[-1]["body"])["data"]["payout"] == 1478
    assert live.cli("ledger", "check").exit_code == 0
