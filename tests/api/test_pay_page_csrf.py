"""The pay page's form takes a post only from a browser that viewed it: a cookie-bound token, no
JavaScript needed. A forged or cross-site post sends no prompt and makes no order."""
import re

from sqlalchemy import func, select

from escrow.models import Order, PaymentAttempt
from tests.api.conftest import BUYER, SELLER, pay


def counts(app) -> tuple[int, int]:
    with app.extensions["zemi"].db.transaction() as session:
        return (session.scalar(select(func.count()).select_from(Order)),
                session.scalar(select(func.count()).select_from(PaymentAttempt)))


def open_link(shop) -> str:
    made = shop.post("/v1/payment-requests", {"amount": 2000, "item": "Table"}, token=shop.verify(SELLER))
    return made.json["url"].removeprefix("http://zemi.test")


def test_the_page_sets_its_cookie_and_puts_the_matching_token_in_the_form(app, shop):
    page = shop.client.get(open_link(shop))
    cookie = page.headers["Set-Cookie"]
    assert "zemi_pay=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/p/" in cookie
    assert re.search(r'<input type="hidden" name="csrf" value="[0-9a-f]{32}">', page.get_data(as_text=True))
    assert "<script" not in page.get_data(as_text=True)


def test_a_post_without_the_token_sends_nothing_and_says_so(app, shop):
    path = open_link(shop)
    shop.client.get(path)
    forged = shop.client.post(path, data={"phone": BUYER, "action": "pay", "lang": "en"})
    assert forged.status_code == 403 and "Nothing was sent" in forged.get_data(as_text=True)
    assert counts(app) == (0, 0)
    assert pay(shop, path, phone=BUYER, action="pay").status_code == 303 and counts(app) == (1, 1)


def test_a_token_from_another_browser_or_another_link_does_not_count(app, shop):
    path, other = open_link(shop), open_link(shop)
    page = shop.client.get(other).get_data(as_text=True)
    token_for_other = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    assert shop.client.post(path, data={"phone": BUYER, "csrf": token_for_other}).status_code == 403
    stranger = app.test_client()                          # a browser that never saw the page
    assert stranger.post(other, data={"phone": BUYER, "csrf": token_for_other}).status_code == 403
    assert counts(app) == (0, 0)


def test_a_cross_site_post_is_refused_even_with_the_cookie(app, shop):
    path = open_link(shop)
    shop.client.get(path)
    page = shop.client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    refused = shop.client.post(path, data={"phone": BUYER, "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403 and counts(app) == (0, 0)


def test_a_named_request_is_declined_only_from_its_page(app, shop):
    made = shop.post("/v1/payment-requests", {"amount": 900, "item": "Kofia", "buyer_phone": BUYER},
                     token=shop.verify(SELLER))
    path = re.search(r"http://zemi\.test(/p/\S+)", shop.texts_to(BUYER)[-1]).group(1)   # the buyer's own link
    assert shop.client.post(path, data={"action": "decline"}).status_code == 403
    assert shop.get(f"/v1/orders/{made.json['order']['reference']}", token=shop.verify(SELLER)).json["state"] \
        == "requested"
    assert pay(shop, path, action="decline").status_code == 303
