"""Webhooks out in the console (issue 16): every role can see the latest deliveries and each
delivery's attempts with the endpoint's answer, in East Africa Time; nothing there can be changed."""
import json

from sqlalchemy import select

from escrow.api_models import WebhookAttempt
from escrow.db import insert_row
from escrow.models import OrderEvent, WebhookDelivery, WebhookEndpoint

BUYER, SELLER = "0711000401", "0722000401"


def a_delivery_tried_twice(live) -> tuple[int, str]:
    view = live.zemi.service.create_order(buyer=BUYER, seller=SELLER, price=1_500, item="Kitenge")
    with live.zemi.db.transaction() as session:
        event_id = session.scalars(select(OrderEvent.id).order_by(OrderEvent.id.desc()).limit(1)).one()
        endpoint = insert_row(session, WebhookEndpoint, integration="duka", url="https://duka.example/hooks",
                              secret_sealed="sealed", events="order.funded")
        delivery = insert_row(session, WebhookDelivery, endpoint_id=endpoint, order_event_id=event_id,
                              event_type="order.funded", status="delivered", attempts=2, last_status=200,
                              payload=json.dumps({"type": "order.funded", "data": {"reference": view.reference}}))
        insert_row(session, WebhookAttempt, delivery_id=delivery, number=1, status=None, error="ConnectTimeout",
                   duration_ms=5000)
        insert_row(session, WebhookAttempt, delivery_id=delivery, number=2, status=200, duration_ms=41)
    return delivery, view.reference


def test_a_viewer_sees_each_delivery_and_every_attempt_with_the_endpoints_answer(live, operators):
    delivery, reference = a_delivery_tried_twice(live)
    client = operators.client(operators.enrolled("wanjiru", "viewer"))
    listing = client.get("/console/webhooks")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert f"msg_{delivery}" in text and "order.funded" in text and reference in text
    assert "https://duka.example/hooks" in text and "delivered" in text and ">200<" in text
    one = client.get(f"/console/webhooks/{delivery}").get_data(as_text=True)
    assert "ConnectTimeout" in one and "5000 ms" in one and "41 ms" in one and "EAT" in one
    assert one.index("ConnectTimeout") < one.index("41 ms")          # attempts in the order they were made


def test_an_unknown_delivery_is_a_404_and_signed_out_callers_are_sent_to_sign_in(live, operators):
    client = operators.client(operators.enrolled("otieno", "viewer"))
    assert client.get("/console/webhooks/999999").status_code == 404
    assert live.app.test_client().get("/console/webhooks").status_code == 302
