"""Money out is never settled on an unverified word (issue 11 finding 3's principle, reliability.md X1).

A B2C answer is believed only at its transfer's own URL, /hooks/b2c/<what>/<token>/<id>/<tag>,
whose tag (SECRET_KEY) only we can make. With the callback token alone, a forged success or a
forged retryable failure changes nothing; at the old untagged path an answer is held and its
transfer asked about (Transaction Status through the outbox), and the tagged answer settles it.
Runs on SQLite by default; on PostgreSQL with DATABASE_URL."""
import logging
import re
import secrets
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from app import create_app
from escrow.models import InboundCallback, Order, OutboxItem, Payout, Posting
from escrow.payments import PaymentResult
from escrow.payouts import RESULT, STATUS, transfer_reply
from escrow.reports import CALLBACKS_FOR_REVIEW
from escrow.worker import Worker
from mpesa import simulator_scenarios as daraja
from mpesa.fields import callback_url_problems
from mpesa.gateway import DarajaPaymentGateway
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from tests.fakes.ports import FakePaymentGateway, FakeSmsSender

TOKEN = "answers-test-token"
BUYER, SELLER = "0711000222", "0722000333"


class Stack:
    def __init__(self, app):
        self.app, self.client = app, app.test_client()
        self.zemi = app.extensions["zemi"]
        self.gateway = FakePaymentGateway()
        self.worker = Worker(self.zemi.db, self.zemi.core, self.gateway, FakeSmsSender())

    def refund_in_flight(self, buyer: str = BUYER, seller: str = SELLER) -> Payout:
        """A funded order the seller cancelled: its refund sent by B2C (Daraja accepted it)."""
        service = self.zemi.service
        view = service.create_order(buyer=buyer, seller=seller, price=1_000, item="Blue kitenge")
        self.worker.run_once()
        push = self.gateway.pushes[-1]
        service.record_payment_result(PaymentResult(push["checkout_id"], True, "0", "ok", push["amount"],
                                                    f"RCP{secrets.token_hex(4).upper()}"))
        service.cancel_order(seller, view.reference)
        self.worker.run_once()
        return self.payout(originator=self.gateway.payouts[-1]["originator_id"])

    def payout(self, *, originator: str) -> Payout:
        with self.zemi.db.transaction() as session:
            payout = session.scalar(select(Payout).where(Payout.originator_conversation_id == originator))
            session.expunge(payout)
            return payout

    def order_state(self, payout: Payout) -> str:
        with self.zemi.db.transaction() as session:
            return session.get(Order, payout.order_id).state

    def postings(self) -> int:
        with self.zemi.db.transaction() as session:
            return session.scalar(select(func.count()).select_from(Posting))

    def last_callback(self) -> InboundCallback:
        with self.zemi.db.transaction() as session:
            row = session.scalar(select(InboundCallback).where(InboundCallback.source != "finding")
                                 .order_by(InboundCallback.id.desc()).limit(1))
            session.expunge(row)
            return row

    def findings(self, kind: str) -> list[dict]:
        return [f for f in self.zemi.service.open_findings() if f.get("kind") == kind]

    def status_checks_due(self, payout: Payout) -> int:
        with self.zemi.db.transaction() as session:
            return session.scalar(select(func.count()).select_from(OutboxItem).where(
                OutboxItem.kind == "b2c_status", OutboxItem.subject_id == payout.id, OutboxItem.status == "pending"))

    def post(self, path: str, body: dict):
        response = self.client.post(path, json=body)
        assert response.status_code == 200 and response.get_json()["ResultCode"] == 0
        return self.last_callback()


@pytest.fixture
def stack(database_url, redis_url, tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url,
                      "REDIS_URL": redis_url, "CALLBACK_TOKEN": TOKEN, "SECRET_KEY": TEST_SECRET_KEY,
                      "DATA_KEY": TEST_DATA_KEY, "STK_DELAY_SECONDS": "0", "SMS_BACKEND": "console",
                      "MPESA_CONFIRM_WITH_QUERY": "never"})
    app.extensions["zemi"].redis.flushdb()
    yield Stack(app)
    app.extensions["zemi"].db.dispose()


def success(payout: Payout, *, amount: int | None = None, receipt: str = "SBC0000001",
            conversation_id: str | None = None) -> dict:
    return daraja.b2c_result({"originator_conversation_id": payout.originator_conversation_id,
                              "conversation_id": conversation_id or payout.conversation_id, "result_code": 0,
                              "result_desc": "ok", "receipt": receipt, "amount": amount or payout.amount,
                              "phone": "254711000222", "completed_at": datetime.now(timezone.utc)})


def failure(payout: Payout, code: int = 1) -> dict:
    return daraja.b2c_result({"originator_conversation_id": payout.originator_conversation_id,
                              "conversation_id": payout.conversation_id, "result_code": code,
                              "result_desc": "The balance is insufficient for the transaction.", "receipt": "x",
                              "amount": payout.amount, "phone": "254711000222",
                              "completed_at": datetime.now(timezone.utc)})


def status_answer(payout: Payout, status: str = "Completed", receipt: str = "SBC0000001") -> dict:
    query = {"originator_conversation_id": "STQ1", "conversation_id": "AG_STQ1", "transaction_id": "OAK0000000"}
    return daraja.transaction_status_result(query, {
        "originator_conversation_id": payout.originator_conversation_id, "conversation_id": payout.conversation_id,
        "party_a": "600000", "phone": "254711000222", "status": status, "amount": payout.amount,
        "receipt": receipt, "completed_at": datetime.now(timezone.utc)})


def hook(what: str, reply_to: str | None = None) -> str:
    return f"/hooks/b2c/{what}/{TOKEN}" + (f"/{reply_to}" if reply_to else "")


def test_a_transfer_is_sent_with_result_urls_that_name_it_and_carry_its_tag(stack):
    payout = stack.refund_in_flight()
    assert stack.gateway.payouts[-1]["reply_to"] == transfer_reply(stack.zemi.core, RESULT, payout.id,
                                                                   payout.originator_conversation_id)


def test_a_forged_success_with_the_token_but_no_valid_tag_settles_nothing(stack):
    payout = stack.refund_in_flight()
    other = stack.refund_in_flight(buyer="0711000444", seller="0722000555")
    before = stack.postings()
    core = stack.zemi.core
    forgeries = {
        "a guessed tag": f"{payout.id}/{secrets.token_hex(16)}",
        "another transfer's tag": f"{payout.id}/" + transfer_reply(core, RESULT, other.id,
                                                                   other.originator_conversation_id).split("/")[1],
        "a status query's tag on the result path": None,   # filled below: right transfer, wrong kind
        "the right tag, cut short": transfer_reply(core, RESULT, payout.id, payout.originator_conversation_id)[:-1],
        "no such transfer": f"2147483000/{secrets.token_hex(16)}",
    }
    forgeries["a status query's tag on the result path"] = transfer_reply(core, STATUS, payout.id,
                                                                          payout.originator_conversation_id)
    for what, reply_to in forgeries.items():
        row = stack.post(hook("result", reply_to), success(payout))
        assert (row.source, row.status) == ("b2c_result", "rejected"), what
        assert "reply tag" in row.note, what
    assert stack.payout(originator=payout.originator_conversation_id).status == "sent"
    assert stack.order_state(payout) == "refunding"
    assert stack.postings() == before
    assert "rejected" in CALLBACKS_FOR_REVIEW   # `flask callbacks list --review` lists them


def test_a_forged_retryable_failure_with_the_token_alone_is_never_sent_again(stack):
    payout = stack.refund_in_flight()
    row = stack.post(hook("result", f"{payout.id}/{'0' * 32}"), failure(payout, code=1))
    assert row.status == "rejected"
    row = stack.post(hook("result"), failure(payout, code=1))   # the untagged path: held, asked about
    assert row.status == "unverified"
    assert stack.payout(originator=payout.originator_conversation_id).status == "unknown"   # never 'failed'
    stack.worker.run_once()   # what goes out is a status query, never a second transfer
    assert stack.gateway.payout_queries == [payout.originator_conversation_id]
    assert [sent["originator_id"] for sent in stack.gateway.payouts] == [payout.originator_conversation_id]
    with stack.zemi.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Payout).where(Payout.order_id == payout.order_id)) == 1


def test_an_untagged_success_is_held_until_the_tagged_status_answer_settles_it(stack):
    payout = stack.refund_in_flight()
    before = stack.postings()
    row = stack.post(hook("result"), success(payout))
    assert (row.status, "Transaction Status check scheduled" in row.note) == ("unverified", True)
    assert stack.payout(originator=payout.originator_conversation_id).status == "unknown"
    assert stack.status_checks_due(payout) == 1
    assert stack.postings() == before and stack.order_state(payout) == "refunding"

    again = stack.post(hook("result"), success(payout))   # a repeat does not pile up checks
    assert again.status == "unverified" and stack.status_checks_due(payout) == 1

    stack.worker.run_once()   # the check goes out, its answer URL tagged for this transfer's status
    assert stack.gateway.payout_queries == [payout.originator_conversation_id]
    reply_to = stack.gateway.payout_query_replies[-1]
    assert reply_to == transfer_reply(stack.zemi.core, STATUS, payout.id, payout.originator_conversation_id)
    assert stack.postings() == before

    untagged = stack.post(hook("status"), status_answer(payout))   # the answer, but not where we asked
    assert untagged.status == "unverified" and stack.postings() == before

    answer = stack.post(hook("status", reply_to), status_answer(payout))
    assert answer.status == "applied"
    assert stack.payout(originator=payout.originator_conversation_id).status == "succeeded"
    assert stack.order_state(payout) == "refunded"
    assert stack.postings() > before   # the refund is booked


def test_a_tagged_success_settles_its_transfer_once(stack):
    payout = stack.refund_in_flight()
    reply_to = stack.gateway.payouts[-1]["reply_to"]
    assert stack.post(hook("result", reply_to), success(payout)).status == "applied"
    assert stack.order_state(payout) == "refunded"
    assert stack.post(hook("result", reply_to), success(payout)).status == "duplicate"


def test_a_tagged_answer_whose_ids_name_another_transfer_is_a_finding_with_no_effect(stack):
    payout = stack.refund_in_flight()
    other = stack.refund_in_flight(buyer="0711000444", seller="0722000555")
    before = stack.postings()
    reply_to = stack.gateway.payouts[0]["reply_to"]
    assert reply_to.startswith(f"{payout.id}/")
    row = stack.post(hook("result", reply_to), success(other))
    assert row.status == "rejected" and other.originator_conversation_id in row.note
    row = stack.post(hook("result", reply_to), success(payout, conversation_id="AG_SOMEONE_ELSE"))
    assert row.status == "rejected"
    assert len(stack.findings("payout-answer-mismatch")) == 2
    assert {stack.payout(originator=p.originator_conversation_id).status for p in (payout, other)} == {"sent"}
    assert stack.postings() == before


def test_a_tagged_queue_timeout_makes_the_transfer_unknown_and_asked_about(stack):
    payout = stack.refund_in_flight()
    reply_to = stack.gateway.payouts[-1]["reply_to"]
    notice = daraja.b2c_queue_timeout({"originator_conversation_id": payout.originator_conversation_id,
                                       "conversation_id": payout.conversation_id})
    assert stack.post(hook("timeout", f"{payout.id}/{'a' * 32}"), notice).status == "rejected"
    assert stack.payout(originator=payout.originator_conversation_id).status == "sent"
    assert stack.post(hook("timeout", reply_to), notice).status == "unknown"
    assert stack.payout(originator=payout.originator_conversation_id).status == "unknown"
    status_tag = transfer_reply(stack.zemi.core, STATUS, payout.id, payout.originator_conversation_id)
    assert stack.post(hook("timeout", status_tag), notice).status == "unknown"   # a status query's: wait


def test_answer_urls_pass_darajas_word_filter_with_a_hex_tag(stack):
    gateway = DarajaPaymentGateway(None, public_base_url="https://zemi.example.co.ke", callback_token=TOKEN)
    core = stack.zemi.core
    for payout_id in (1, 42, 2147483647):
        for _ in range(200):
            originator = f"ZZ{secrets.token_hex(4).upper()}R{secrets.token_hex(5)}"
            for kind in (RESULT, STATUS):
                reply_to = transfer_reply(core, kind, payout_id, originator)
                assert re.fullmatch(rf"{payout_id}/[0-9a-f]{{32}}", reply_to)
                for path in ("b2c/result", "b2c/timeout", "b2c/status"):
                    assert callback_url_problems(gateway.reply_url(path, reply_to)) == []


def test_a_transfers_tag_is_blanked_in_every_log_line(stack, caplog):
    caplog.set_level(logging.DEBUG)
    payout = stack.refund_in_flight()
    reply_to = stack.gateway.payouts[-1]["reply_to"]
    logging.getLogger("werkzeug").info('"POST /hooks/b2c/result/%s/%s HTTP/1.1" 200 -', TOKEN, reply_to)
    stack.post(hook("result", reply_to), success(payout))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"/hooks/b2c/result/***/{payout.id}/***" in logged
    assert reply_to.split("/")[1] not in logged and TOKEN not in logged
