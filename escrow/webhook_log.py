"""What webhooks were sent and how each try went: the reads behind `flask webhooks` and the console's
webhooks page (both adapters read the same rows through here)."""
import json

from sqlalchemy import select

from escrow.api_models import WebhookAttempt
from escrow.db import Database
from escrow.models import WebhookDelivery, WebhookEndpoint


def recent_deliveries(db: Database, limit: int = 50) -> list[tuple]:
    """(delivery, integration, url) rows, newest first."""
    with db.transaction() as session:
        rows = session.execute(select(WebhookDelivery, WebhookEndpoint.integration, WebhookEndpoint.url)
                               .join(WebhookEndpoint).order_by(WebhookDelivery.id.desc()).limit(limit)).all()
        session.expunge_all()
        return rows


def delivery_with_attempts(db: Database, delivery_id: int):
    """(delivery, endpoint, [attempts, first first]) or None."""
    with db.transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return None
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        attempts = list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                                        .order_by(WebhookAttempt.number, WebhookAttempt.id)))
        session.expunge_all()
        return delivery, endpoint, attempts


def endpoints(db: Database) -> list[WebhookEndpoint]:
    with db.transaction() as session:
        rows = list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
        session.expunge_all()
        return rows


def order_reference(delivery: WebhookDelivery) -> str:
    """The order a delivery is about, from its payload ('-' when it names none)."""
    return json.loads(delivery.payload).get("data", {}).get("reference", "-")
