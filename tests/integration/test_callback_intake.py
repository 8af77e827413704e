"""Hostile callbacks on every callback route (issue 11 finding 6, reliability I3/X8).

Whatever arrives with the right token is stored (raw bytes sealed, a bounded review copy without
NUL), acknowledged, and ends `malformed`, applied or a finding: never a 500, never left `received`.
Run it on PostgreSQL too (DATABASE_URL): NUL, column lengths and BIGINT overflow only bite there."""
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import create_app
from escrow import ledger
from escrow import inbox
from escrow.models import InboundCallback, PaymentAttempt, Payout
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY

TOKEN = "intake-test-token"
BUYER, SELLER = "0711222333", "0722000111"
DARAJA_ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}
ROUTES = {  # source -> path
    "stk": "/hooks/stk/", "b2c_result": "/hooks/b2c/result/", "b2c_timeout": "/hooks/b2c/timeout/",
    "b2c_status": "/hooks/b2c/status/", "c2b_validation": "/hooks/c2b/validation/",
    "c2b_confirmation": "/hooks/c2b/confirmation/", "sms_delivery": "/hooks/sms/delivery/",
    "sms_inbound": "/hooks/sms/inbound/",
}
JSON_SOURCES = [source for source in ROUTES if not source.startswith("sms")]


@pytest.fixture
def app(database_url, redis_url, tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url,
                      "REDIS_URL": redis_url, "CALLBACK_TOKEN": TOKEN, "SECRET_KEY": TEST_SECRET_KEY,
                      "DATA_KEY": TEST_DATA_KEY, "STK_DELAY_SECONDS": "0", "SMS_BACKEND": "console"})
    yield app
    app.extensions["zemi"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def zemi(app):
    return app.extensions["zemi"]


def stored(app, source=None) -> list[InboundCallback]:
    with zemi(app).db.transaction() as session:
        query = select(InboundCallback).where(InboundCallback.source != "finding").order_by(InboundCallback.id)
        if source:
            query = query.where(InboundCallback.source == source)
        return list(session.scalars(query))


def open_findings(app) -> list[dict]:
    return zemi(app).service.open_findings()


def post_raw(client, source: str, data: bytes):
    content_type = "application/x-www-form-urlencoded" if source.startswith("sms") else "application/json"
    return client.post(ROUTES[source] + TOKEN, data=data, content_type=content_type)


def post_json(client, source: str, body):
    return post_raw(client, source, json.dumps(body).encode())


def order_with_sent_attempt(app, checkout_id: str = "ws_CO_H4_1"):
    """An order awaiting payment whose STK push Daraja accepted under `checkout_id`."""
    zemi(app).service.create_order(buyer=BUYER, seller=SELLER, price=1_000, item="Blue kitenge")
    with zemi(app).db.transaction() as session:
        attempt = session.scalar(select(PaymentAttempt).where(PaymentAttempt.status == "queued")
                                 .order_by(PaymentAttempt.id.desc()).limit(1))
        session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt.id)
                        .values(status="sent", checkout_request_id=checkout_id))
        return attempt.order_id, attempt.amount


def sent_payout(app, order_id: int, originator: str, amount: int = 900) -> int:
    from escrow.db import insert_row
    with zemi(app).db.transaction() as session:
        return insert_row(session, Payout, order_id=order_id, purpose="payout" if originator.endswith("P") else
                          "refund", amount=amount, recipient_sealed=zemi(app).core.vault.seal("254722000111"),
                          status="sent", originator_conversation_id=originator)


def post_tagged_result(app, client, payout_id: int, originator: str, body: dict):
    """A B2C result where Daraja sends it: the transfer's own tagged ResultURL (escrow/transfer_answers.py)."""
    from escrow.payouts import RESULT, transfer_reply
    reply_to = transfer_reply(zemi(app).core, RESULT, payout_id, originator)
    return client.post(f"{ROUTES['b2c_result']}{TOKEN}/{reply_to}", data=json.dumps(body).encode(),
                       content_type="application/json")


def stk_body(checkout_id, code=0, desc="ok", amount=None, receipt=None) -> dict:
    callback = {"MerchantRequestID": "1-2-3", "CheckoutRequestID": checkout_id, "ResultCode": code,
                "ResultDesc": desc}
    if amount is not None:
        callback["CallbackMetadata"] = {"Item": [{"Name": "Amount", "Value": amount},
                                                 {"Name": "MpesaReceiptNumber", "Value": receipt}]}
    return {"Body": {"stkCallback": callback}}


def b2c_success(originator: str, amount, receipt: str) -> dict:
    return {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok", "OriginatorConversationID": originator,
                       "ConversationID": f"AG_{originator}", "TransactionID": receipt,
                       "ResultParameters": {"ResultParameter": [
                           {"Key": "TransactionAmount", "Value": amount}, {"Key": "TransactionReceipt", "Value": receipt},
                           {"Key": "ReceiverPartyPublicName", "Value": "254722000111 - JOHN DOE"}]}}}


def age(app, *callback_ids: int, hours: int = 1) -> None:
    """Make stored callbacks look `hours` older."""
    with zemi(app).db.transaction() as session:
        for row in session.scalars(select(InboundCallback).where(InboundCallback.id.in_(callback_ids))):
            row.received_at = row.received_at - timedelta(hours=hours)


def assert_acknowledged(response, source: str) -> None:
    assert response.status_code == 200, response.data[:200]
    if source.startswith("sms"):
        assert response.data == b"OK"
    elif source == "c2b_validation":
        assert response.get_json()["ResultDesc"] == "Rejected"
    elif source == "c2b_confirmation":
        assert response.get_json() == {"ResultCode": 0, "ResultDesc": "Success"}
    else:
        assert response.get_json() == DARAJA_ACK


def worker_pass(app) -> int:
    """The worker's callback step: applies what the STK route only stored (CALLBACK_APPLY=worker, the
    default); the other routes apply before answering, so it finds nothing of theirs."""
    return zemi(app).service.intake.apply_waiting()


def assert_one_malformed(app, source: str) -> InboundCallback:
    worker_pass(app)
    [row] = stored(app, source)
    assert row.status == "malformed", (row.status, row.note)
    return row


# --- the raw body is kept whatever its bytes ----------------------------------------------
@pytest.mark.parametrize("source", list(ROUTES))
def test_a_raw_nul_byte_is_stored_sealed_acknowledged_and_malformed(app, client, source):
    body = b"id=ATXid_1\x00&status=Success" if source.startswith("sms") else b'{"Body": "\x00"}'
    assert_acknowledged(post_raw(client, source, body), source)
    row = assert_one_malformed(app, source)
    assert "\x00" not in row.body
    assert inbox.raw_bytes(zemi(app).core.vault, row.body, row.body_sealed) == body


@pytest.mark.parametrize("source", ["stk", "sms_delivery"])
def test_bytes_that_are_not_utf8_are_sealed_exactly(app, client, source):
    body = b"\xff\xfe{\x80 not text"
    assert_acknowledged(post_raw(client, source, body), source)
    row = assert_one_malformed(app, source)
    assert inbox.raw_bytes(zemi(app).core.vault, row.body, row.body_sealed) == body


@pytest.mark.parametrize("source", JSON_SOURCES)
def test_json_nested_fifty_thousand_deep_is_malformed_not_a_crash(app, client, source):
    huge = post_raw(client, source, ("[" * 50_000 + "]" * 50_000).encode())
    assert huge.status_code in (200, 413)   # refused unread past the body limit (finding 8), or kept
    assert_acknowledged(post_raw(client, source, ("[" * 15_000 + "]" * 15_000).encode()), source)
    worker_pass(app)
    rows = stored(app, source)
    assert rows and all(row.status == "malformed" for row in rows)
    assert "deep" in rows[-1].note
    assert all(len(row.body) <= 64 * 1024 for row in rows)


# --- fields that do not fit our columns ---------------------------------------------------
def test_a_nul_inside_a_field_is_malformed(app, client):
    order_with_sent_attempt(app)
    assert_acknowledged(post_json(client, "stk", stk_body("ws_CO_H4_1", code=1032, desc="bad\u0000desc")), "stk")
    assert_one_malformed(app, "stk")
    with zemi(app).db.transaction() as session:
        assert session.scalar(select(PaymentAttempt.status)) == "sent"


def test_a_result_code_longer_than_its_column_is_malformed(app, client):
    order_with_sent_attempt(app)
    assert_acknowledged(post_json(client, "stk", stk_body("ws_CO_H4_1", code="1" * 17)), "stk")
    assert "ResultCode" in assert_one_malformed(app, "stk").note


def test_an_stk_receipt_longer_than_32_is_malformed_and_funds_nothing(app, client):
    _, amount = order_with_sent_attempt(app)
    assert_acknowledged(post_json(client, "stk", stk_body("ws_CO_H4_1", amount=amount, receipt="R" * 33)), "stk")
    assert_one_malformed(app, "stk")
    with zemi(app).db.transaction() as session:
        assert ledger.balance(session, ledger.MPESA_CASH) == 0


def test_an_amount_of_two_to_the_63_is_malformed_and_holds_nothing_in_suspense(app, client):
    order_with_sent_attempt(app)
    for n, amount in enumerate((2 ** 63, 2 ** 63 - 1, 1e308, "1e1000000", 250_001)):
        post_json(client, "stk", stk_body("ws_CO_H4_1", amount=amount, receipt=f"RCPT{n}"))
    assert worker_pass(app) == 5
    rows = stored(app, "stk")
    assert [row.status for row in rows] == ["malformed"] * 5
    with zemi(app).db.transaction() as session:
        assert ledger.balance(session, ledger.SUSPENSE) == 0
        assert session.scalar(select(PaymentAttempt.status)) == "sent"


def test_a_b2c_receipt_longer_than_32_is_malformed(app, client):
    order_id, _ = order_with_sent_attempt(app)
    sent_payout(app, order_id, "ZH4ORIGP")
    assert_acknowledged(post_json(client, "b2c_result", b2c_success("ZH4ORIGP", 900, "Q" * 33)), "b2c_result")
    assert_one_malformed(app, "b2c_result")


def test_a_c2b_trans_id_longer_than_32_is_malformed(app, client):
    order_with_sent_attempt(app)
    body = {"TransactionType": "Pay Bill", "TransID": "T" * 33, "TransTime": "20240706224852",
            "TransAmount": "1000.00", "BusinessShortCode": "174379", "BillRefNumber": "X", "MSISDN": "2547***678"}
    assert_acknowledged(post_json(client, "c2b_confirmation", body), "c2b_confirmation")
    assert_one_malformed(app, "c2b_confirmation")


def test_the_same_b2c_receipt_for_two_payouts_is_a_finding_not_a_crash(app, client):
    first_order, _ = order_with_sent_attempt(app, "ws_CO_H4_1")
    second_order = zemi(app).service.create_order(buyer="0711222444", seller=SELLER, price=1_000, item="Chair")
    with zemi(app).db.transaction() as session:
        second_order_id = session.scalar(select(PaymentAttempt.order_id).where(PaymentAttempt.status == "queued"))
    first = sent_payout(app, first_order, "ZH4FIRSTP")
    second = sent_payout(app, second_order_id, "ZH4SECONDP")
    assert post_tagged_result(app, client, first, "ZH4FIRSTP", b2c_success("ZH4FIRSTP", 900, "SAMERCPT1")) \
        .status_code == 200
    assert_acknowledged(post_tagged_result(app, client, second, "ZH4SECONDP",
                                           b2c_success("ZH4SECONDP", 900, "SAMERCPT1")), "b2c_result")
    assert [row.status for row in stored(app, "b2c_result")][0] == "applied"
    with zemi(app).db.transaction() as session:
        statuses = dict(session.execute(select(Payout.originator_conversation_id, Payout.status)).all())
    assert statuses == {"ZH4FIRSTP": "succeeded", "ZH4SECONDP": "sent"}
    assert [f["kind"] for f in open_findings(app)] == ["payout-receipt-reused"]
    assert second_order.reference in json.dumps(open_findings(app), default=str)


# --- nothing stays unprocessed --------------------------------------------------------------
def test_a_callback_left_received_is_processed_by_the_reconcile_pass(app):
    order_with_sent_attempt(app)
    service = zemi(app).service
    callback_id = service.store_callback(source="stk", body=json.dumps(stk_body("ws_CO_H4_1", code=1032)).encode(),
                                         remote_addr="127.0.0.1")
    undeliverable = service.store_callback(source="sms_delivery", body=b"id=nope", remote_addr="127.0.0.1")
    age(app, callback_id, undeliverable)   # as if the web worker died right after storing them
    zemi(app).reconciler.run()
    statuses = {row.id: row.status for row in stored(app)}
    assert statuses[callback_id] == "applied" and statuses[undeliverable] == "malformed"
    with zemi(app).db.transaction() as session:
        assert session.scalar(select(PaymentAttempt.status)) == "failed"


def test_malformed_callbacks_are_listed_for_review(app, client):
    post_raw(client, "stk", b"[" * 1000)
    post_raw(client, "sms_inbound", b"\x00")
    worker_pass(app)
    output = app.test_cli_runner().invoke(args=["callbacks", "list", "--review"]).output
    assert "stk" in output and "sms_inbound" in output and output.count("malformed") == 2


def test_a_conflicting_write_is_applied_once_more_and_a_second_conflict_is_malformed(app):
    """A unique-key conflict is usually a concurrent twin that won: applied again it says 'duplicate'."""
    from sqlalchemy.exc import IntegrityError

    intake, calls = zemi(app).service.intake, []

    def conflicting(times):
        def process(raw, callback_id):
            calls.append(callback_id)
            if len(calls) <= times:
                raise IntegrityError("INSERT ...", {}, Exception("duplicate key"))
            return "duplicate"
        return process

    first = zemi(app).service.store_callback(source="stk", body=b"{}", remote_addr=None)
    assert intake.process(first, "stk", "{}", conflicting(1)) == "duplicate" and calls == [first, first]
    calls.clear()
    second = zemi(app).service.store_callback(source="stk", body=b"{}", remote_addr=None)
    assert intake.process(second, "stk", "{}", conflicting(2)) == "malformed"
    assert {row.id: row.status for row in stored(app)}[second] == "malformed"


# --- Account Balance answers go through the same bounded reading --------------------------
@pytest.mark.parametrize("body", [b'{"Result": "\x00"}', b"\xff\xfe{\x80", ("[" * 15_000 + "]" * 15_000).encode(),
                                  b'{"Result": {"ResultCode": 1e1000000}}'])
def test_a_hostile_balance_answer_is_acknowledged_and_kept_malformed(app, client, body):
    response = client.post(f"/hooks/balance/result/{TOKEN}/s600000", data=body, content_type="application/json")
    assert response.status_code == 200 and response.get_json() == DARAJA_ACK
    [row] = stored(app, "balance")
    assert row.status == "malformed", (row.status, row.note)
    assert inbox.raw_bytes(zemi(app).core.vault, row.body, row.body_sealed) == body
