"""Whose numbers an API caller sees follows USSD's rule (issue 14): the party asking sees the other
party's number in full (they must reach each other); nobody else reads the order at all."""
from tests.api.conftest import BUYER, SELLER

STRANGER = "0733000222"


def test_each_party_sees_the_other_in_full_and_a_stranger_sees_nothing(app, shop):
    buyer, seller, stranger = shop.verify(BUYER), shop.verify(SELLER), shop.verify(STRANGER)
    made = shop.post("/v1/orders", {"seller_phone": SELLER, "amount": 1500, "item": "Shoes"}, token=buyer)
    assert made.status_code == 201 and made.json["counterpart"] == SELLER
    reference = made.json["reference"]

    assert shop.get(f"/v1/orders/{reference}", token=buyer).json["counterpart"] == SELLER
    as_seller = shop.get(f"/v1/orders/{reference}", token=seller).json
    assert as_seller["role"] == "seller" and as_seller["counterpart"] == BUYER
    assert shop.get("/v1/orders", token=seller).json["data"][0]["counterpart"] == BUYER

    refused = shop.get(f"/v1/orders/{reference}", token=stranger)
    assert refused.status_code == 404 and BUYER not in refused.get_data(as_text=True)
    assert shop.get("/v1/orders", token=stranger).json["data"] == []
    assert shop.get(f"/v1/orders/{reference}/payment", token=stranger).status_code == 404


def test_a_payment_request_names_the_buyer_in_full_to_its_seller(app, shop):
    seller = shop.verify(SELLER)
    made = shop.post("/v1/payment-requests", {"amount": 900, "item": "Kofia", "buyer_phone": BUYER}, token=seller)
    assert made.status_code == 201 and made.json["order"]["counterpart"] == BUYER
    page = shop.client.get(made.json["url"].removeprefix("http://zemi.test") + "?lang=en").get_data(as_text=True)
    assert BUYER not in page and "0712***678" in page                 # anyone with the link: masked
