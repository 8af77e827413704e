"""Issue 11 finding 2, after the outbox gave up: a payout that was surely never sent (Daraja out of
reach for longer than the outbox's back-off) is sent once Daraja is back, with a finding; never lost."""
from sqlalchemy import select, update

from escrow.models import OutboxItem, Payout
from escrow.ports import GatewayError
from tests.integration.test_reconcile import findings, payout_world, world  # noqa: F401 (fixtures)


def test_a_queued_payout_whose_outbox_row_gave_up_is_sent_once_daraja_is_back(payout_world):  # noqa: F811
    (service, worker, gateway, reconciler, database), order = payout_world
    gateway.fail_next = GatewayError("DarajaUnreachable: could not reach Daraja", retryable=True)
    worker.run_once()
    with database.transaction() as session:
        assert session.scalar(select(Payout.status)) == "queued"
        # as it stands after outbox.MAX_ATTEMPTS such failures in a row
        session.execute(update(OutboxItem).where(OutboxItem.kind == "b2c_payout").values(status="failed"))
    worker.run_once()
    assert gateway.payouts == []
    assert reconciler.run().counts.get("unsent payouts retried") == 1
    worker.run_once()
    assert [p["amount"] for p in gateway.payouts] == [order.payout]
    with database.transaction() as session:
        assert session.scalar(select(Payout.status)) == "sent"
    assert findings(database) == ["payout-held-up"]
    reconciler.run()
    worker.run_once()
    assert len(gateway.payouts) == 1 and findings(database) == ["payout-held-up"]
