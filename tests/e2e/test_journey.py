"""The whole journey over HTTP: AT-format USSD, the real Daraja client against the simulator,
real callbacks, the worker, SMS recorded, the seller paid, the ledger balanced."""
import re

import requests

from tests.e2e.conftest import CALLBACK_TOKEN

BUYER, SELLER = "+254712345678", "+254722000111"


def settle(live, simulator, rounds=4):
    """Let the worker and the simulator's callbacks run until nothing is left to do."""
    for _ in range(rounds):
        live.run_worker()
        assert simulator.drain(timeout=10)
    live.run_worker()


def reference_in(text: str) -> str:
    return re.search(r"Order (\d{8})", text).group(1)


def test_a_buyer_pays_a_seller_into_escrow_and_the_seller_is_paid_out(live, simulator):
    replies = live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")
    assert replies[0].startswith("CON ") and replies[-1].startswith("END ")
    assert "M-Pesa prompt" in replies[-1]
    reference = reference_in(replies[-1])
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} awaiting_payment")

    settle(live, simulator)
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} funded")
    stk = simulator.requests_received("/mpesa/stkpush/v1/processrequest")[0]
    assert stk["json"]["Amount"] == 1500 or str(stk["json"]["Amount"]) == "1500"
    assert stk["json"]["CallBackURL"].endswith(f"/hooks/stk/{CALLBACK_TOKEN}/a1")   # our attempt id (issue 11 #1)
    assert any("held" in text and "Blue kitenge" in text for text in live.texts_to(SELLER))
    code = live.delivery_code(BUYER)

    replies = live.dial(SELLER, "4", code, "1")
    assert "KES 1,500" in replies[2] and replies[-1].startswith("END ")
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} released")

    settle(live, simulator)
    shown = live.cli("orders", "show", reference).output
    assert shown.startswith(f"{reference} paid_out")
    payout = simulator.requests_received("/mpesa/b2c/v3/paymentrequest")
    assert len(payout) == 1 and str(payout[0]["json"]["Amount"]) == "1478"  # 1,500 less the 1.5% fee (22)
    receipt = re.search(r"receipt=(\w+)", shown).group(1)
    assert any(receipt in text for text in live.texts_to(SELLER))
    assert live.cli("ledger", "check").exit_code == 0
    sms_list = live.cli("sms", "list").output
    assert code not in sms_list and "0712***678" in sms_list


def test_a_wrong_code_re_prompts_and_is_counted(live, simulator):
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "800", "Shoes", "1")[-1])
    settle(live, simulator)
    code = live.delivery_code(BUYER)
    wrong = "000000" if code != "000000" else "111111"
    replies = live.dial(SELLER, "4", wrong)
    assert replies[-1].startswith("CON ") and "4" in replies[-1]  # tries left
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} funded")


def test_callbacks_with_a_wrong_token_or_a_malformed_body_move_no_money(live):
    assert requests.post(f"{live.base_url}/hooks/stk/wrong-token", json={}, timeout=5).status_code == 404
    response = requests.post(f"{live.base_url}/hooks/stk/{CALLBACK_TOKEN}", data=b"{not json", timeout=5)
    assert response.status_code == 200 and response.json()["ResultCode"] == 0
    unknown = {"Body": {"stkCallback": {"MerchantRequestID": "1", "CheckoutRequestID": "ws_CO_unknown",
                                        "ResultCode": 0, "ResultDesc": "ok", "CallbackMetadata": {"Item": [
                                            {"Name": "Amount", "Value": 1.0},
                                            {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                                            {"Name": "PhoneNumber", "Value": 254712345678}]}}}}
    assert requests.post(f"{live.base_url}/hooks/stk/{CALLBACK_TOKEN}", json=unknown, timeout=5).status_code == 200
    live.run_worker()   # applies what the route stored (CALLBACK_APPLY=worker, the default)
    from sqlalchemy import select
    from escrow.models import InboundCallback, JournalEntry
    with live.zemi.db.transaction() as session:
        statuses = session.scalars(select(InboundCallback.status).order_by(InboundCallback.id)).all()
        assert session.scalars(select(JournalEntry)).all() == []
    assert statuses == ["malformed", "orphan"]


def test_the_ussd_path_never_calls_daraja(live, simulator):
    live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")
    assert simulator.requests_received("/mpesa/stkpush/v1/processrequest") == []
