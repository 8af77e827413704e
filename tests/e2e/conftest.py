"""A live service on 127.0.0.1: the real app in a server thread, the Daraja simulator beside it."""
import re
import socket
import threading

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from mpesa.simulator import SimulatorServer
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY

CALLBACK_TOKEN = "e2e-callback-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveService:
    """Drives the service the way Africa's Talking, a phone and an operator would."""

    def __init__(self, app, base_url):
        self.app, self.base_url = app, base_url
        self.zemi = app.extensions["zemi"]
        self.sessions = 0

    def dial(self, phone: str, *inputs: str) -> list[str]:
        """One USSD session: each input is one screen's answer; returns every reply."""
        self.sessions += 1
        session_id, typed, replies = f"ATUid_e2e{self.sessions}", [], []
        for answer in ("",) + inputs:
            if answer != "":
                typed.append(answer)
            response = requests.post(f"{self.base_url}/ussd", data={
                "sessionId": session_id, "serviceCode": "*384*1234#", "phoneNumber": phone,
                "networkCode": "63902", "text": "*".join(typed)}, timeout=10)
            assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
            replies.append(response.text)
        return replies

    def run_worker(self) -> int:
        with self.app.app_context():
            return self.zemi.worker().run_once()

    def cli(self, *args):
        return self.app.test_cli_runner().invoke(args=list(args))

    def texts_to(self, phone: str) -> list[str]:
        """The handset's view: full SMS bodies opened from their seal."""
        from sqlalchemy import select
        from escrow.models import SmsMessage
        vault = self.zemi.core.vault
        with self.zemi.db.transaction() as session:
            rows = session.scalars(select(SmsMessage).where(SmsMessage.recipient_key == vault.phone_key(phone))
                                   .order_by(SmsMessage.id))
            return [vault.unseal(row.body_sealed) for row in rows]

    def delivery_code(self, buyer: str) -> str:
        return re.findall(r"\b(\d{6})\b", " ".join(t for t in self.texts_to(buyer) if "code" in t.lower()))[-1]


SIMULATED_PAYMENT_SECONDS = 0.05  # how long the simulator's payments take to complete (its callback delay)


@pytest.fixture
def simulator():
    with SimulatorServer({"callback_delay": SIMULATED_PAYMENT_SECONDS}) as server:
        yield server


@pytest.fixture
def live(simulator, database_url, redis_url, tmp_path):
    yield from _live_service(simulator, database_url, redis_url, tmp_path, {"SMS_BACKEND": "console"})


@pytest.fixture
def at_double():
    from sms.at_double import AtDoubleServer
    with AtDoubleServer({"api_key": "e2e-at-key"}) as server:
        yield server


@pytest.fixture
def live_with_at(simulator, at_double, database_url, redis_url, tmp_path):
    """The live service sending SMS through the real africastalking SDK to the local AT double."""
    yield from _live_service(simulator, database_url, redis_url, tmp_path, {
        "SMS_BACKEND": "africastalking", "AT_USERNAME": "zemi", "AT_API_KEY": "e2e-at-key",
        "AT_SENDER_ID": "ZEMI", "AT_API_BASE_URL": at_double.base_url})


def _live_service(simulator, database_url, redis_url, tmp_path, settings):
    """The app on a free port with `settings` (SMS backend and the like) over the shared ones."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = create_app({
        "INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "MPESA_BASE_URL": simulator.base_url, "MPESA_CONSUMER_KEY": "sim-key", "MPESA_CONSUMER_SECRET": "sim-secret",
        "MPESA_SHORTCODE": "174379",
        "MPESA_PASSKEY": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
        "MPESA_B2C_SHORTCODE": "600000", "MPESA_INITIATOR_NAME": "testapi", "MPESA_SECURITY_CREDENTIAL": "cred",
        "PUBLIC_BASE_URL": base_url, "CALLBACK_TOKEN": CALLBACK_TOKEN, "SECRET_KEY": TEST_SECRET_KEY,
        "DATA_KEY": TEST_DATA_KEY, "STK_DELAY_SECONDS": "0", **settings})
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.extensions["zemi"].redis.flushdb()
    yield LiveService(app, base_url)
    server.shutdown()
    app.extensions["zemi"].db.dispose()
