"""Pay links follow USSD's rules: an open link expires, prompts are limited per link, each payer of an
open link gets an order and a link of their own, and a bad number is refused on the page."""
from sqlalchemy import func, select, update

from escrow.models import Order, PaymentLink
from tests.api.conftest import SELLER, ApiClient, make_app, new_key, pay


def open_link(shop: ApiClient) -> str:
    seller = shop.verify(SELLER)
    made = shop.post("/v1/payment-requests", {"amount": 2000, "item": "Table"}, token=seller)
    assert made.status_code == 201 and made.json["open"] is True
    return made.json["url"].removeprefix("http://zemi.test")


def orders(app) -> int:
    with app.extensions["zemi"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Order))


def test_each_payer_of_an_open_link_gets_an_order_and_a_link_of_their_own(app, shop):
    path = open_link(shop)
    first = pay(shop, path, phone="0712000001", action="pay", lang="en")
    second = pay(shop, path, phone="0712000002", action="pay", lang="en")
    assert first.status_code == second.status_code == 303
    assert first.location != second.location and not first.location.startswith(path)
    assert orders(app) == 2
    page = shop.client.get(first.location).get_data(as_text=True)
    assert "0712***001" in page and "0712***002" not in page


def test_an_expired_open_link_takes_no_payment(app, shop):
    path = open_link(shop)
    with shop.zemi.db.transaction() as session:
        session.execute(update(PaymentLink).values(expires_at=PaymentLink.created_at))
    page = shop.client.get(path).get_data(as_text=True)
    assert "This link has expired" in page and 'id="pay"' not in page
    pay(shop, path, phone="0712000001", action="pay")
    assert orders(app) == 0


def test_prompts_from_one_link_are_limited_per_hour(database_url, redis_url, tmp_path):
    app = make_app(database_url, redis_url, tmp_path, PAYMENT_LINK_PROMPTS_PER_HOUR="2")
    app.extensions["zemi"].redis.flushdb()
    shop = ApiClient(app, new_key(app))
    path = open_link(shop)
    for payer in ("0712000001", "0712000002"):
        assert pay(shop, path, phone=payer, action="pay").status_code == 303
    refused = pay(shop, path, phone="0712000003", action="pay", lang="en")
    assert refused.status_code == 200 and "too many prompts from this link" in refused.get_data(as_text=True)
    assert orders(app) == 2
    app.extensions["zemi"].db.dispose()


def test_a_number_that_is_not_kenyan_is_refused_on_the_page_in_kiswahili(app, shop):
    path = open_link(shop)
    refused = pay(shop, path, phone="12345", action="pay", lang="sw")
    assert "Hiyo si nambari ya M-Pesa ya Kenya" in refused.get_data(as_text=True) and orders(app) == 0


def test_an_unknown_link_is_a_404_page(app, shop):
    missing = shop.client.get("/p/not-a-real-token-but-long-enough")
    assert missing.status_code == 404 and "This payment link does not exist" in missing.get_data(as_text=True)
