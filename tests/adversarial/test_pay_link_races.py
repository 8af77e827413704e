"""A pay link's prompts per hour hold when its form is posted many times at the same moment.

PAYMENT_LINK_PROMPTS_PER_HOUR keeps one link (shared on WhatsApp, so held by anyone) from sending
M-Pesa prompts without end. It was counted in a transaction of its own before the prompt's order was
made in another: posts sent together each counted the others' prompts as not there yet. An open link
asks each payer's number, so the per-number limit does not stop ten payers' numbers typed at once."""
from sqlalchemy import func, select

from escrow.models import Order, PaymentAttempt
from tests.adversarial.conftest import needs_postgres, race
from tests.api.conftest import SELLER, ApiClient, make_app, new_key

LIMIT = 2
PAYERS = [f"07120000{n:02d}" for n in range(10)]


def browser_post(app, path: str, phone: str):
    """One browser (a test client of its own): the page for its cookie, then the form."""
    from api.pay_csrf import COOKIE, form_token
    client = app.test_client()
    client.get(path)
    browser = client.get_cookie(COOKIE, path="/p/").value
    token = path.split("/p/", 1)[1]
    csrf = form_token(app.extensions["zemi"].core.vault, browser, token)
    return lambda: client.post(path, data={"phone": phone, "action": "pay", "csrf": csrf}).status_code


def counts(app) -> tuple[int, int]:
    with app.extensions["zemi"].db.transaction() as session:
        return (session.scalar(select(func.count()).select_from(Order)),
                session.scalar(select(func.count()).select_from(PaymentAttempt)))


def test_simultaneous_posts_to_an_open_link_send_no_more_prompts_than_its_hourly_limit(
        database, database_url, redis_url, tmp_path):
    needs_postgres(database)
    app = make_app(database_url, redis_url, tmp_path, PAYMENT_LINK_PROMPTS_PER_HOUR=str(LIMIT))
    app.extensions["zemi"].redis.flushdb()
    shop = ApiClient(app, new_key(app))
    made = shop.post("/v1/payment-requests", {"amount": 2000, "item": "Table"}, token=shop.verify(SELLER))
    path = made.json["url"].removeprefix("http://zemi.test")
    posts = [browser_post(app, path, payer) for payer in PAYERS]
    answers = race(posts)
    assert all(answer in (200, 303) for answer in answers), answers     # refused politely, never a 500
    orders, prompts = counts(app)
    assert orders <= LIMIT and prompts <= LIMIT
    assert answers.count(303) == orders
    app.extensions["zemi"].db.dispose()
