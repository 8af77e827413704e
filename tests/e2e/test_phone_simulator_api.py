"""The phone simulator's page and API over HTTP (phonesim/): served only on the embedded defaults, a
dial-through shortcut reaches the service as AT sends it, the simulator's controls are reachable, and only
JSON is taken (a cross-site form cannot drive a phone)."""
import re
import threading
import time

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from mpesa import simulator_phones
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY
from tests.e2e.conftest import CALLBACK_TOKEN, free_port

BUYER = "0712345678"


@pytest.fixture
def embedded(simulator, database_url, redis_url, tmp_path):
    """The app on the embedded defaults (no MPESA_BASE_URL: SIMULATOR_PORT names the simulator), served
    on a free port, with a worker running beside it as `bin/serve` runs one."""
    port = free_port()
    app = create_app({
        "INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "SIMULATOR_PORT": simulator.base_url.rsplit(":", 1)[1], "PORT": str(port), "CALLBACK_TOKEN": CALLBACK_TOKEN,
        "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY, "STK_DELAY_SECONDS": "0"})
    zemi = app.extensions["zemi"]
    zemi.redis.flushdb()
    assert app.test_cli_runner().invoke(args=["mpesa", "register-urls"]).exit_code == 0   # as bin/serve does
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()

    def work():
        with app.app_context():
            zemi.worker().run_forever(poll_seconds=0.2, stop=stop)
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    yield app, f"http://127.0.0.1:{port}"
    stop.set()
    worker.join(timeout=10)
    server.shutdown()
    zemi.db.dispose()


def test_the_page_and_its_script_are_served_with_a_strict_content_security_policy(embedded):
    _app, base_url = embedded
    page = requests.get(f"{base_url}/phones", timeout=10)
    assert page.status_code == 200 and "Zemi phone simulator" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text and 'src="/phones/static/phonesim.js"' in page.text
    assert requests.get(f"{base_url}/phones/static/phonesim.js", timeout=10).status_code == 200


def test_a_dial_through_shortcut_sends_the_digits_after_the_service_code_as_the_first_text(embedded, simulator):
    _app, base_url = embedded
    answer = requests.post(f"{base_url}/phones/api/dial", json={"phone": BUYER, "dialled": "*384*1234*4#"}, timeout=15)
    assert answer.status_code == 200
    shown = answer.json()
    assert (shown["service_code"], shown["text"]) == ("*384*1234#", "4")
    assert shown["kind"] in ("CON", "END") and shown["limit"] == 160 and shown["deadline_ms"] == 10000
    wrong = requests.post(f"{base_url}/phones/api/dial", json={"phone": BUYER, "dialled": "*100#"}, timeout=15)
    assert wrong.status_code == 400 and "invalid MMI code" in wrong.json()["error"]


def test_the_simulator_controls_are_reachable_from_the_page(embedded, simulator):
    _app, base_url = embedded
    state = requests.get(f"{base_url}/phones/api/phone/{BUYER}", timeout=10).json()
    assert {"cancelled", "insufficient_funds", "no_callback"} <= set(state["scenarios"]) and state["sms"] == []
    assert requests.post(f"{base_url}/phones/api/scenario", json={"phone": BUYER, "scenario": "no_callback"},
                         timeout=10).json() == {"ok": True}
    assert simulator.simulator.take_scenario("254712345678", "stk") == "no_callback"


def test_a_form_post_is_refused(embedded):
    _app, base_url = embedded
    refused = requests.post(f"{base_url}/phones/api/dial", data={"phone": BUYER, "dialled": "*384*1234#"}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"] == "send a JSON object"


@pytest.mark.parametrize("live_setting", [
    {"MPESA_BASE_URL": "http://127.0.0.1:9", "MPESA_CONSUMER_KEY": "sim-key", "MPESA_CONSUMER_SECRET": "sim-secret",
     "MPESA_SHORTCODE": "174379", "MPESA_PASSKEY": "x", "MPESA_B2C_SHORTCODE": "600000",
     "MPESA_INITIATOR_NAME": "testapi", "MPESA_SECURITY_CREDENTIAL": "cred", "PUBLIC_BASE_URL": "https://zemi.example"},
    {"SMS_BACKEND": "africastalking", "AT_USERNAME": "zemi", "AT_API_KEY": "k", "AT_API_BASE_URL": "http://127.0.0.1:9"},
], ids=["MPESA_BASE_URL", "SMS_BACKEND=africastalking"])
def test_with_any_live_setting_the_page_is_not_served(live_setting, database_url, redis_url, tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                      "CALLBACK_TOKEN": CALLBACK_TOKEN, "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY,
                      **live_setting})
    client = app.test_client()
    for path in ("/phones", "/phones/static/phonesim.js", f"/phones/api/phone/{BUYER}"):
        assert client.get(path).status_code == 404
    assert "phonesim" not in app.blueprints


def buy_on_the_page(base_url, amount="500") -> str:
    """A purchase typed on the buyer's phone page: its order's reference."""
    shown = requests.post(f"{base_url}/phones/api/dial", json={"phone": BUYER, "dialled": "*384*1234#"}, timeout=15).json()
    text = ""
    for answer in ("1", "0722000111", amount, "Shoes", "1"):
        text = answer if text == "" else f"{text}*{answer}"
        shown = requests.post(f"{base_url}/phones/api/reply", timeout=15, json={
            "phone": BUYER, "session_id": shown["session_id"], "service_code": shown["service_code"], "text": text}).json()
    return re.search(r"Order (\d{8})", shown["screen"]).group(1)


def order_state(app, reference) -> str:
    return app.test_cli_runner().invoke(args=["orders", "show", reference]).output.split()[1]


def test_once_the_page_is_closed_the_simulator_pays_the_prompt_on_its_own_again(embedded, monkeypatch):
    app, base_url = embedded
    monkeypatch.setattr(simulator_phones, "WATCH_SECONDS", 1.0)       # a page counts as closed 1 s after its last poll
    assert requests.get(f"{base_url}/phones/api/phone/{BUYER}", timeout=10).ok   # the page polls once, then is closed
    time.sleep(1.5)
    reference = buy_on_the_page(base_url)
    for _ in range(150):
        if order_state(app, reference) == "funded":
            break
        time.sleep(0.2)
    assert order_state(app, reference) == "funded"                    # nobody entered a PIN
    assert requests.get(f"{base_url}/phones/api/phone/{BUYER}", timeout=10).json()["prompts"] == []


def test_while_the_page_polls_the_prompt_waits_for_the_pin(embedded):
    app, base_url = embedded
    assert requests.get(f"{base_url}/phones/api/phone/{BUYER}", timeout=10).ok
    reference = buy_on_the_page(base_url)
    prompts = []
    for _ in range(150):
        prompts = requests.get(f"{base_url}/phones/api/phone/{BUYER}", timeout=10).json()["prompts"]
        if prompts:
            break
        time.sleep(0.2)
    assert [p["account"] for p in prompts] == [reference] and order_state(app, reference) == "awaiting_payment"
