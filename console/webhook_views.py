"""Webhooks out (issue 16) as operators see them: the latest deliveries with their state, and one
delivery's every attempt with the endpoint's answer and how long it took. Read only: a delivery is
retried by the outbox, never by hand."""
from flask import abort

from console.web import Console, page, signed_in
from escrow.webhook_log import delivery_with_attempts, endpoints, order_reference, recent_deliveries

LISTED = 100


def register(bp, console: Console) -> None:
    @bp.route("/webhooks")
    @signed_in()
    def webhooks():
        deliveries = [(delivery, integration, url, order_reference(delivery))
                      for delivery, integration, url in recent_deliveries(console.db, LISTED)]
        return page("webhooks.html", endpoints=endpoints(console.db), deliveries=deliveries, listed=LISTED)

    @bp.route("/webhooks/<int:delivery_id>")
    @signed_in()
    def webhook(delivery_id):
        found = delivery_with_attempts(console.db, delivery_id) if delivery_id < 10**12 else None
        if found is None:
            abort(404)
        delivery, endpoint, attempts = found
        return page("webhook.html", delivery=delivery, endpoint=endpoint, attempts=attempts,
                    reference=order_reference(delivery))
