"""Issue 11 finding 8: bodies past a small limit are refused before they are read, over real HTTP,
whether they announce a Content-Length or arrive chunked: 413 on callback paths, a polite END
(status 200, as Africa's Talking expects) on USSD. Real-sized callbacks still pass."""
import http.client
import json
import socket

import pytest
import requests
from sqlalchemy import func, select

from escrow.models import InboundCallback
from tests.e2e.conftest import CALLBACK_TOKEN

HUGE = 300 * 1024 * 1024   # announced, never sent: the answer must come before the body
CALLBACK_PATHS = [f"/hooks/stk/{CALLBACK_TOKEN}", f"/hooks/b2c/result/{CALLBACK_TOKEN}",
                  f"/hooks/c2b/confirmation/{CALLBACK_TOKEN}", f"/hooks/sms/delivery/{CALLBACK_TOKEN}"]


def post_unfinished(base_url: str, path: str, content_type: str, *, announce: int | None = None,
                    chunks_of: bytes = b"", chunk_count: int = 0) -> tuple[int, str, str]:
    """POST over a raw socket and read the answer WITHOUT finishing the body: with `announce`, a
    Content-Length of that many bytes and no body at all; else `chunk_count` chunks of `chunks_of`
    (Transfer-Encoding: chunked) and no terminating chunk. A server that waited for the whole body
    would never answer (the socket times out and the test fails)."""
    host, port = base_url.split("//")[1].split(":")
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Type: {content_type}"]
    if announce is not None:
        head.append(f"Content-Length: {announce}")
        body = b""
    else:
        head.append("Transfer-Encoding: chunked")
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunks_of), chunks_of) for _ in range(chunk_count))
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()


def stored_callbacks(live) -> int:
    with live.zemi.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(InboundCallback))


@pytest.mark.parametrize("path", CALLBACK_PATHS)
def test_an_oversized_callback_is_refused_with_413_before_its_body_is_read(live, path):
    status, _, _ = post_unfinished(live.base_url, path, "application/json", announce=HUGE)
    assert status == 413
    assert stored_callbacks(live) == 0


@pytest.mark.parametrize("path", CALLBACK_PATHS)
def test_an_oversized_chunked_callback_is_refused_with_413_where_reading_reaches_the_limit(live, path):
    status, _, _ = post_unfinished(live.base_url, path, "application/json", chunks_of=b"x" * 8192, chunk_count=6)
    assert status == 413
    assert stored_callbacks(live) == 0


def test_a_real_sized_stk_callback_with_margin_still_passes(live):
    body = {"Body": {"stkCallback": {"MerchantRequestID": "29115-34620561-1", "CheckoutRequestID":
                                     "ws_CO_191220191020363925", "ResultCode": 1032,
                                     "ResultDesc": "Request cancelled by user " + "." * 6000}}}
    response = requests.post(f"{live.base_url}/hooks/stk/{CALLBACK_TOKEN}", json=body, timeout=10)
    assert response.status_code == 200
    assert stored_callbacks(live) == 1


@pytest.mark.parametrize("how", ["content-length", "chunked"])
def test_an_oversized_ussd_hop_gets_a_polite_end(live, how):
    form = "application/x-www-form-urlencoded"
    if how == "content-length":
        status, content_type, text = post_unfinished(live.base_url, "/ussd", form, announce=HUGE)
    else:
        chunk = b"sessionId=ATUid_big&phoneNumber=%2B254711000111&text=" + b"1*" * 4000
        status, content_type, text = post_unfinished(live.base_url, "/ussd", form, chunks_of=chunk, chunk_count=3)
    assert status == 200 and content_type.startswith("text/plain")
    assert text.startswith("END ") and len(text) <= 160 and "too long" in text


def test_a_chunked_callback_within_the_limit_is_read_whole(live):
    body = json.dumps({"Body": {"stkCallback": {"MerchantRequestID": "m", "CheckoutRequestID": "ws_CO_chunked",
                                                "ResultCode": 1032, "ResultDesc": "x" * 20_000}}}).encode()
    response = requests.post(f"{live.base_url}/hooks/stk/{CALLBACK_TOKEN}", data=iter([body[:9000], body[9000:]]),
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200
    with live.zemi.db.transaction() as session:
        stored = session.scalars(select(InboundCallback)).one()
    assert "ws_CO_chunked" in stored.body and len(stored.body) >= 20_000


def test_an_ordinary_ussd_session_is_untouched(live):
    assert live.dial("+254711000111", "1")[-1].startswith("CON ")
