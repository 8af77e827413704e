"""Webhooks out: an integration's order events go through the outbox, signed per Standard Webhooks
(checked here with the independent `standardwebhooks` package), retried, visible with attempts."""
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from api.webhooks import sign
from escrow.funding import apply_money_in
from escrow.models import Order, OutboxItem, WebhookDelivery
from tests.api.conftest import BUYER, SELLER, ApiClient, make_app, new_key
from tests.api.webhook_receiver import WebhookReceiver


@pytest.fixture
def app(database_url, redis_url, tmp_path):   # no STK push leaves during these tests
    app = make_app(database_url, redis_url, tmp_path, STK_DELAY_SECONDS="3600")
    app.extensions["zemi"].redis.flushdb()
    yield app
    app.extensions["zemi"].db.dispose()


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def add_endpoint(app, name, url, *events) -> str:
    args = ["webhooks", "add", name, url] + (["--events", ",".join(events)] if events else [])
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def order_through(shop: ApiClient) -> str:
    token = shop.verify(BUYER)
    response = shop.post("/v1/orders", {"seller_phone": SELLER, "amount": 1500, "item": "Shoes"}, token=token)
    assert response.status_code == 201
    return response.json["reference"]


def fund(app, reference: str) -> None:
    zemi = app.extensions["zemi"]
    with zemi.db.transaction() as session:
        order = session.scalar(select(Order).where(Order.reference == reference))
        assert apply_money_in(session, zemi.core, order_id=order.id, attempt_id=None, receipt=f"RCPT{order.id:06d}",
                              amount=order.charge, channel="stk") == "funded"


def run_worker(app) -> None:
    with app.app_context():
        app.extensions["zemi"].worker().run_once()


def test_a_funded_order_reaches_the_endpoint_signed_and_verifiable_independently(app, receiver):
    secret = add_endpoint(app, "shop", receiver.url)
    assert secret.startswith("whsec_")
    shop = ApiClient(app, new_key(app, name="shop"))
    reference = order_through(shop)
    fund(app, reference)
    assert receiver.received == []          # nothing is sent inline
    run_worker(app)
    assert receiver.types() == ["order.funded"]
    delivered = receiver.received[0]
    payload = Webhook(secret).verify(delivered["body"], delivered["headers"])
    assert payload["data"]["reference"] == reference and payload["data"]["charge"] == 1500
    assert delivered["headers"]["Webhook-Id"].startswith("msg_")
    tampered = delivered["body"].replace("1500", "15000")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, delivered["headers"])
    run_worker(app)
    assert len(receiver.received) == 1      # once per event and endpoint


def test_our_signature_is_the_spec_example():
    """The Standard Webhooks spec's own test vector."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_refused_delivery_is_retried_with_the_same_id_and_its_attempts_are_listed(app, receiver):
    secret = add_endpoint(app, "shop", receiver.url)
    shop = ApiClient(app, new_key(app, name="shop"))
    fund(app, order_through(shop))
    receiver.answers = [500]
    run_worker(app)
    zemi = app.extensions["zemi"]
    with zemi.db.transaction() as session:
        delivery = session.scalar(select(WebhookDelivery))
        assert (delivery.status, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
        item = session.scalar(select(OutboxItem).where(OutboxItem.kind == "webhook"))
        assert item.status == "pending" and item.due_at > session.scalar(select(Order.updated_at))  # backed off
        session.execute(update(OutboxItem).where(OutboxItem.id == item.id).values(due_at=item.due_at - timedelta(hours=1)))
    run_worker(app)
    first, second = receiver.received
    assert first["headers"]["Webhook-Id"] == second["headers"]["Webhook-Id"]
    Webhook(secret).verify(second["body"], second["headers"])
    listing = app.test_cli_runner().invoke(args=["webhooks", "list"]).output
    assert "order.funded to shop delivered attempts=2 last=204" in listing


def test_each_attempt_is_kept_and_shown_with_its_time_answer_and_duration(app, receiver):
    add_endpoint(app, "shop", receiver.url)
    shop = ApiClient(app, new_key(app, name="shop"))
    reference = order_through(shop)
    fund(app, reference)
    receiver.answers = [503]
    run_worker(app)
    with app.extensions["zemi"].db.transaction() as session:
        session.execute(update(OutboxItem).where(OutboxItem.kind == "webhook")
                        .values(due_at=OutboxItem.created_at))     # due again now
        delivery_id = session.scalar(select(WebhookDelivery.id))
    run_worker(app)

    listing = app.test_cli_runner().invoke(args=["webhooks", "list"]).output
    assert f"msg_{delivery_id} order.funded to shop delivered attempts=2 last=204 order {reference}" in listing
    shown = app.test_cli_runner().invoke(args=["webhooks", "show", f"msg_{delivery_id}"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == f"delivery msg_{delivery_id} order.funded order {reference}: delivered"
    assert receiver.url in lines[1] and " EAT" in lines[2] and "delivered" in lines[2]
    assert re.fullmatch(r"  attempt 1 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d EAT -> 503 \(\d+ ms\)", lines[3]), lines[3]
    assert re.fullmatch(r"  attempt 2 .* EAT -> 204 \(\d+ ms\)", lines[4]), lines[4]
    missing = app.test_cli_runner().invoke(args=["webhooks", "show", "msg_999999"])
    assert missing.exit_code == 1


def test_an_unreachable_endpoints_attempt_names_the_error(app):
    add_endpoint(app, "shop", "http://127.0.0.1:9/hooks")          # nothing listens on the discard port
    shop = ApiClient(app, new_key(app, name="shop"))
    fund(app, order_through(shop))
    run_worker(app)
    with app.extensions["zemi"].db.transaction() as session:
        delivery_id = session.scalar(select(WebhookDelivery.id))
    shown = app.test_cli_runner().invoke(args=["webhooks", "show", str(delivery_id)]).output
    assert "pending" in shown.splitlines()[0] and re.search(r"attempt 1 .* -> ConnectionError \(\d+ ms\)", shown)


def test_only_the_integrations_own_orders_and_chosen_events_are_sent(app, receiver):
    add_endpoint(app, "shop", receiver.url, "order.dispatched")
    shop = ApiClient(app, new_key(app, name="shop"))
    other = ApiClient(app, new_key(app, name="other-shop"))
    fund(app, order_through(other))
    reference = order_through(shop)
    fund(app, reference)
    run_worker(app)
    assert receiver.received == []          # funded is not chosen; the other shop's order is not ours
    seller = shop.verify(SELLER)
    assert shop.post(f"/v1/orders/{reference}/dispatch", token=seller).status_code == 200
    run_worker(app)
    assert receiver.types() == ["order.dispatched"]
    assert json.loads(receiver.received[0]["body"])["data"]["state"] == "dispatched"
