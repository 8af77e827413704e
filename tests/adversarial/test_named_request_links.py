"""A seller's payment request names its buyer: only that buyer accepts it (or declines it).

Its pay link went to the buyer by SMS, and the very same link to the seller (USSD, to share) or to the
shop (the API's `url`). Whoever held it acted as the buyer: the seller could accept their own request
on the buyer's behalf, recorded as the buyer's acceptance, and send M-Pesa prompts to a number that
never asked for one (reliability.md X9: a push only after the buyer initiated or consented from their
own line), or decline it in the buyer's name. What a careful buyer expects: the request is answered
from their own line, that is USSD, the API with their phone token, or the link that came to their
phone by SMS. The copy the seller holds shows the request and tells the buyer how to answer it."""
import re

from sqlalchemy import func, select

from escrow.models import Order, OrderEvent, PaymentAttempt
from tests.api.conftest import BUYER, SELLER, app, pay, shop  # noqa: F401 -- fixtures reused here
from tests.api.test_request_links import dial

LINK = re.compile(r"http://zemi\.test(/p/[A-Za-z0-9_-]{22})\b")


def state_and_prompts(app) -> tuple[str, int, int]:  # noqa: F811
    with app.extensions["zemi"].db.transaction() as session:
        return (session.scalar(select(Order.state)),
                session.scalar(select(func.count()).select_from(PaymentAttempt)),
                session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.actor == "buyer")))


def test_the_shops_copy_of_a_named_request_link_neither_accepts_nor_declines_for_the_buyer(app, shop):  # noqa: F811
    made = shop.post("/v1/payment-requests", {"amount": 1500, "item": "Kitenge", "buyer_phone": BUYER},
                     token=shop.verify(SELLER))
    held_by_seller = made.json["url"].removeprefix("http://zemi.test")
    page = shop.client.get(held_by_seller + "?lang=en").get_data(as_text=True)
    assert "Kitenge" in page and "0712***678" in page and 'id="pay"' not in page and 'id="decline"' not in page
    for action in ("pay", "decline"):
        pay(shop, held_by_seller, action=action)
    assert state_and_prompts(app) == ("requested", 0, 0)

    buyers_own = LINK.search(shop.texts_to(BUYER)[-1]).group(1)    # the link that came to the buyer's phone
    assert buyers_own != held_by_seller
    assert pay(shop, buyers_own, action="pay").status_code == 303
    assert state_and_prompts(app)[:2] == ("awaiting_payment", 1)


def test_the_link_a_ussd_seller_is_sent_to_share_sends_the_buyer_no_prompt(app, shop):  # noqa: F811
    dial(app, SELLER, "2", BUYER, "2500", "Radio", "1")
    sellers_copy = LINK.search(shop.texts_to(SELLER)[-1]).group(1)
    assert pay(shop, sellers_copy, action="pay").status_code in (200, 303)
    assert state_and_prompts(app) == ("requested", 0, 0)
    page = shop.client.get(sellers_copy + "?lang=en").get_data(as_text=True)
    assert "Radio" in page and "0712***678" in page and 'id="pay"' not in page


def test_decline_pressed_on_a_page_that_is_out_of_date_never_sends_a_prompt(app, shop):  # noqa: F811
    """The page was opened while the request waited; the buyer accepted meanwhile (USSD, another tab).
    Decline, pressed on the old page, sent another M-Pesa prompt (anything not a request was paid again)."""
    made = shop.post("/v1/payment-requests", {"amount": 1500, "item": "Kitenge", "buyer_phone": BUYER},
                     token=shop.verify(SELLER))
    buyers_own = LINK.search(shop.texts_to(BUYER)[-1]).group(1)
    shop.zemi.service.accept_request(BUYER, made.json["order"]["reference"])
    assert state_and_prompts(app)[:2] == ("awaiting_payment", 1)
    pay(shop, buyers_own, action="decline")
    assert state_and_prompts(app)[:2] == ("awaiting_payment", 1)
