"""What erasing one number does, table by table (escrow/privacy/scrub.py), on a real database: the
other party's texts lose only the number, a B2C result naming the seller only inside its blanked name
field is found by its conversation id, a table added later (code unlocks) is swept by its *_key
column, and amounts, receipts and the other party's number stay."""
from datetime import datetime, timedelta

from sqlalchemy import select

from escrow.audit import Actor
from escrow.db import insert_row
from escrow.inbox import callback_row
from escrow.models import (CodeAttempt, ErasureRequest, InboundCallback, Order, Payout, Profile, SmsMessage,
                           StatementLine)
from escrow.ops_models import CodeUnlock
from escrow.phone import ERASED
from escrow.privacy.erasure import erase, request_erasure
from escrow.privacy.scrub import ERASED_KEY, PURGED_TEXT

BUYER, SELLER = "254712345678", "254722000111"
B2C_RESULT = ('{"Result": {"ConversationID": "AG_20261202_00004e1f", "ResultParameters": {"ResultParameter": '
              '[{"Key": "ReceiverPartyPublicName", "Value": "254722000111 - JOHN DOE"}]}}}')


def test_erasing_the_seller_leaves_the_order_the_money_and_the_buyer_but_no_trace_of_the_seller(database, core):
    vault, old = core.vault, datetime.utcnow() - timedelta(days=3)
    with database.transaction() as session:
        order_id = insert_row(session, Order, reference="10000001", state="paid_out", initiated_by="buyer",
                              buyer_key=vault.phone_key(BUYER), buyer_sealed=vault.seal(BUYER),
                              seller_key=vault.phone_key(SELLER), seller_sealed=vault.seal(SELLER), item="Radio",
                              price=1500, fee=22, fee_payer="seller", charge=1500, payout=1478, updated_at=old)
        payout_id = insert_row(session, Payout, order_id=order_id, purpose="payout", recipient_sealed=vault.seal(SELLER),
                               amount=1478, status="succeeded", originator_conversation_id="oc-00004e1f",
                               conversation_id="AG_20261202_00004e1f", receipt="SG632NMUAB")
        to_buyer = insert_row(session, SmsMessage, order_id=order_id, recipient_key=vault.phone_key(BUYER),
                              recipient_sealed=vault.seal(BUYER), kind="released_to_buyer", language="en",
                              body_redacted="Seller 0722***111 is being paid", status="delivered",
                              body_sealed=vault.seal("Seller 0722000111 is being paid"))
        to_seller = insert_row(session, SmsMessage, order_id=order_id, recipient_key=vault.phone_key(SELLER),
                               recipient_sealed=vault.seal(SELLER), kind="payout_to_seller", language="en",
                               body_redacted="KES 1,478 sent", body_sealed=vault.seal("KES 1,478 sent"), status="sent")
        callback_id = insert_row(session, InboundCallback, **callback_row(vault, source="b2c_result", body=B2C_RESULT,
                                                                           remote_addr="196.201.214.200", status="applied"))
        line_id = insert_row(session, StatementLine, shortcode="600000", receipt="SG632NMUAB", kind="B2C", at=old,
                             amount=-1478, party_masked="0722***111", party_sealed=vault.seal(f"{SELLER} - JOHN DOE"),
                             status="matched")
        insert_row(session, Profile, phone_key=vault.phone_key(SELLER), language="sw")
        insert_row(session, CodeAttempt, caller_key=vault.phone_key(SELLER), order_id=order_id, succeeded=True)
        insert_row(session, CodeUnlock, caller_key=vault.phone_key(SELLER), operator="amina")
        request_id = request_erasure(session, core, "0722000111", source="cli", actor=Actor("t", "admin"), reason="t")
    assert "0722***111" not in callback_row(vault, source="x", body=B2C_RESULT, remote_addr=None)["body"]

    outcome = erase(database, core, request_id, None, actor=Actor("t", "admin"))

    assert outcome.done and outcome.counts["code_unlocks"] == 1 and outcome.counts["inbound_callbacks"] == 1
    with database.transaction() as session:
        order = session.get(Order, order_id)
        assert (order.seller_key, vault.unseal(order.seller_sealed)) == (ERASED_KEY, ERASED)
        assert (order.buyer_key, vault.unseal(order.buyer_sealed)) == (vault.phone_key(BUYER), BUYER)
        assert (order.charge, order.payout, order.state) == (1500, 1478, "paid_out")
        payout = session.get(Payout, payout_id)
        assert (vault.unseal(payout.recipient_sealed), payout.amount, payout.receipt) == (ERASED, 1478, "SG632NMUAB")
        buyer_text = session.get(SmsMessage, to_buyer)
        assert vault.unseal(buyer_text.body_sealed) == "Seller ********** is being paid"
        assert buyer_text.body_redacted == "Seller ********** is being paid"
        seller_text = session.get(SmsMessage, to_seller)
        assert (seller_text.recipient_key, vault.unseal(seller_text.body_sealed), seller_text.body_redacted) == \
            (ERASED_KEY, "", PURGED_TEXT)
        callback = session.get(InboundCallback, callback_id)
        assert callback.body_sealed is None and "AG_20261202_00004e1f" in callback.body
        line = session.get(StatementLine, line_id)
        assert (line.party_sealed, line.party_masked, line.amount) == (None, None, -1478)
        assert session.get(Profile, vault.phone_key(SELLER)) is None
        assert session.scalars(select(CodeAttempt)).all() == []
        assert [u.caller_key for u in session.scalars(select(CodeUnlock))] in ([], [ERASED_KEY])
        request = session.get(ErasureRequest, request_id)
        assert (request.status, request.phone_key, request.phone_sealed) == ("done", None, None)
