"""Issue 11 finding 8: bodies past a small limit are refused before they are read, over real HTTP,
whether they announce a Content-Length or arrive chunked: 413 on callback paths, a polite END
(status 200, as Africa's Talking expects) on USSD. Real-sized callbacks still pass."""
import json

import pytest
import requests
from sqlalchemy import func, select

from escrow.models import InboundCallback
from tests.e2e.conftest import CALLBACK_TOKEN

BIG = 300 * 1024     # far past any limit, small enough for loopback socket buffers (no reset mid-send)
CALLBACK_PATHS = [f"/hooks/stk/{CALLBACK_TOKEN}", f"/hooks/b2c/result/{CALLBACK_TOKEN}",
                  f"/hooks/c2b/confirmation/{CALLBACK_TOKEN}", f"/hooks/sms/delivery/{CALLBACK_TOKEN}"]


def chunked(body: bytes, size: int = 8192):
    """A generator body: requests sends it with Transfer-Encoding: chunked and no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def stored_callbacks(live) -> int:
    with live.zemi.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(InboundCallback))


def big_json() -> bytes:
    return json.dumps({"Body": {"stkCallback": {"pad": "x" * BIG}}}).encode()


@pytest.mark.parametrize("path", CALLBACK_PATHS)
@pytest.mark.parametrize("how", ["content-length", "chunked"])
def test_an_oversized_callback_is_refused_with_413_and_not_stored(live, path, how):
    body = big_json()
    data = body if how == "content-length" else chunked(body)
    response = requests.post(live.base_url + path, data=data, headers={"Content-Type": "application/json"},
                             timeout=10)
    assert response.status_code == 413
    assert stored_callbacks(live) == 0


def test_a_real_sized_stk_callback_with_margin_still_passes(live):
    body = {"Body": {"stkCallback": {"MerchantRequestID": "29115-34620561-1", "CheckoutRequestID":
                                     "ws_CO_191220191020363925", "ResultCode": 1032,
                                     "ResultDesc": "Request cancelled by user " + "." * 6000}}}
    response = requests.post(f"{live.base_url}/hooks/stk/{CALLBACK_TOKEN}", json=body, timeout=10)
    assert response.status_code == 200
    assert stored_callbacks(live) == 1


def ussd_form(text: str) -> bytes:
    return requests.models.RequestEncodingMixin._encode_params(
        {"sessionId": "ATUid_big", "serviceCode": "*384*1234#", "phoneNumber": "+254711000111",
         "networkCode": "63902", "text": text}).encode()


@pytest.mark.parametrize("how", ["content-length", "chunked"])
@pytest.mark.parametrize("size", [20 * 1024, BIG])
def test_an_oversized_ussd_hop_gets_a_polite_end(live, how, size):
    body = ussd_form("1*" * (size // 2))
    data = body if how == "content-length" else chunked(body)
    response = requests.post(f"{live.base_url}/ussd", data=data, timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    assert response.text.startswith("END ") and len(response.text) <= 160
    assert "too long" in response.text


def test_an_ordinary_ussd_session_is_untouched(live):
    assert live.dial("+254711000111", "1")[-1].startswith("CON ")
