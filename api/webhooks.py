"""Webhooks out: order events of an integration's orders, signed per the Standard Webhooks spec
(webhook-id, webhook-timestamp, webhook-signature: v1,base64(HMAC-SHA256(secret, id.timestamp.body))).

A collecting step (each worker pass) turns new order events into one delivery per endpoint, with its
outbox row, in one transaction; the outbox sends them (never inline), retried with its back-off."""
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time

import requests
from sqlalchemy import select, update

from api.records import aware
from escrow import outbox
from escrow.api_models import WebhookAttempt
from escrow.context import Core
from escrow.db import Database, db_now, insert_new, insert_once, insert_row, utcnow
from escrow.models import ApiOrder, Order, OrderEvent, WebhookCursor, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

OUTBOX_KIND = "webhook"
SECRET_PREFIX = "whsec_"
LOOKBACK = 200       # events re-read behind the cursor: ids taken by transactions that committed later
BATCH = 500
EVENT_TYPES = ("order.funded", "order.dispatched", "order.released", "order.paid_out", "order.disputed",
               "order.refunded", "order.expired", "order.cancelled")
_BY_STATE = {"funded": "order.funded", "dispatched": "order.dispatched", "released": "order.released",
             "paid_out": "order.paid_out", "disputed": "order.disputed", "refunded": "order.refunded",
             "expired": "order.expired", "cancelled": "order.cancelled"}
_BY_EVENT = {"cancelled_by_seller": "order.cancelled"}   # it moves to 'refunding'; 'refunded' follows


class WebhookFailed(Exception):
    """An endpoint did not take a delivery (the outbox tries again later)."""


def event_type(event: OrderEvent) -> str | None:
    return _BY_EVENT.get(event.event) or _BY_STATE.get(event.to_state)


# --- signing (the spec) --------------------------------------------------------------------------
def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# --- endpoints -----------------------------------------------------------------------------------
def add_endpoint(db: Database, core: Core, integration: str, url: str, events=EVENT_TYPES) -> tuple[int, str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown or not url.startswith(("https://", "http://")):
        raise ValueError(f"events must be some of {', '.join(EVENT_TYPES)}; the URL http(s)://")
    secret = new_secret()
    with db.transaction() as session:
        endpoint_id = insert_row(session, WebhookEndpoint, integration=integration, url=url,
                                 secret_sealed=core.vault.seal(secret), events=" ".join(sorted(set(events))))
    return endpoint_id, secret


def disable_endpoint(db: Database, endpoint_id: int) -> bool:
    with db.transaction() as session:
        return session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                               .values(disabled=True)).rowcount == 1


# --- collecting events ---------------------------------------------------------------------------
def collect(db: Database) -> int:
    """New order events of API orders become deliveries (once per endpoint and event: the unique
    constraint decides; the look-back's events already delivered are skipped without an insert)."""
    with db.transaction() as session:
        cursor = session.scalar(select(WebhookCursor).where(WebhookCursor.id == 1).with_for_update())
        if cursor is None:
            insert_once(session, WebhookCursor, id=1, last_event_id=0)
            cursor = session.scalar(select(WebhookCursor).where(WebhookCursor.id == 1).with_for_update())
        rows = session.execute(
            select(OrderEvent, ApiOrder.integration, Order).join(ApiOrder, ApiOrder.order_id == OrderEvent.order_id)
            .join(Order, Order.id == OrderEvent.order_id)
            .where(OrderEvent.id > max(0, cursor.last_event_id - LOOKBACK)).order_by(OrderEvent.id).limit(BATCH)).all()
        if not rows:
            return 0
        endpoints = _endpoints_by_integration(session, {integration for _, integration, _ in rows})
        done = set(session.execute(select(WebhookDelivery.endpoint_id, WebhookDelivery.order_event_id).where(
            WebhookDelivery.order_event_id.in_([event.id for event, _, _ in rows]))).all())
        queued, now = 0, db_now(session)
        for event, integration, order in rows:
            kind = event_type(event)
            for endpoint in endpoints.get(integration, ()) if kind else ():
                if kind in endpoint.events.split() and (endpoint.id, event.id) not in done:
                    queued += _queue(session, endpoint, event, kind, order, now)
        session.execute(update(WebhookCursor).where(WebhookCursor.id == 1)
                        .values(last_event_id=max(cursor.last_event_id, rows[-1][0].id)))
        return queued


def _endpoints_by_integration(session, integrations) -> dict:
    found: dict = {}
    for endpoint in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.integration.in_(integrations),
                                                                  WebhookEndpoint.disabled.is_(False))):
        found.setdefault(endpoint.integration, []).append(endpoint)
    return found


def _queue(session, endpoint, event: OrderEvent, kind: str, order: Order, now) -> int:
    payload = json.dumps({"type": kind, "timestamp": aware(event.at).isoformat(), "data": {
        "reference": order.reference, "state": event.to_state, "event": event.event, "item": order.item,
        "price": order.price, "fee": order.fee, "charge": order.charge, "payout": order.payout}},
        separators=(",", ":"))
    delivery_id = insert_new(session, WebhookDelivery, endpoint_id=endpoint.id, order_event_id=event.id,
                             event_type=kind, payload=payload, status="pending")
    if delivery_id is None:
        return 0
    outbox.enqueue(session, OUTBOX_KIND, delivery_id, due_at=now)
    return 1


# --- sending (an outbox handler) -----------------------------------------------------------------
def deliver(db: Database, core: Core, delivery_id: int, http=None, timeout: float = 10.0) -> str:
    with db.transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery.status == "delivered":
            return "delivered"
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        url, secret, body = endpoint.url, core.vault.unseal(endpoint.secret_sealed), delivery.payload
    message_id, timestamp = f"msg_{delivery_id}", int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": message_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": sign(secret, message_id, timestamp, body), "User-Agent": "Zemi-Webhooks/1"}
    status, error, started = None, None, time.monotonic()
    try:
        response = (http or requests).post(url, data=body.encode(), headers=headers, timeout=timeout,
                                           allow_redirects=False)
        status = response.status_code
    except requests.RequestException as failure:
        error = type(failure).__name__
    delivered = status is not None and 200 <= status < 300
    _record_attempt(db, delivery_id, status, error, delivered, int((time.monotonic() - started) * 1000))
    if not delivered:
        raise WebhookFailed(f"endpoint answered {status or error}")
    return "delivered"


def _record_attempt(db: Database, delivery_id: int, status, error, delivered: bool, duration_ms: int) -> None:
    """The delivery's latest answer, and the attempt's own row (webhook_attempts), in one transaction."""
    with db.transaction() as session:
        row = session.get(WebhookDelivery, delivery_id)
        gave_up = not delivered and row.attempts + 1 >= outbox.MAX_ATTEMPTS
        insert_row(session, WebhookAttempt, delivery_id=delivery_id, number=row.attempts + 1, status=status,
                   error=error[:60] if error else None, duration_ms=duration_ms)
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(
            attempts=WebhookDelivery.attempts + 1, last_status=status, last_error=error,
            status="delivered" if delivered else ("failed" if gave_up else "pending"),
            delivered_at=utcnow() if delivered else None))


def collect_each_pass(worker, db: Database):
    """Wrap `worker.run_once` (as console.health does) so each pass first turns new order events into
    deliveries; a failure here never stops the outbox."""
    run_once = worker.run_once

    def run_once_with_webhooks() -> int:
        try:
            collected = collect(db)
        except Exception:  # noqa: BLE001
            log.exception("webhook collection failed")
            collected = 0
        return run_once() + collected
    worker.run_once = run_once_with_webhooks
    return worker


