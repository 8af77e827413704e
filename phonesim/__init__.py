"""The phone simulator page (development only): buyer's and seller's handsets side by side in a browser.

Each handset dials the USSD service the way Africa's Talking calls it, shows its SMS inbox, and answers
the M-Pesa prompts the Daraja simulator holds for a watched number (mpesa/simulator_phones.py). app.py
registers it only on the embedded defaults (the Daraja simulator, SMS recorded): with any live setting
it is not served. It talks to the service and the simulator over HTTP only, like a phone would.

    GET  /phones                      the page (static JS and CSS of its own; no inline script)
    POST /phones/api/dial             {phone, dialled}                -> the first hop's answer
    POST /phones/api/reply            {phone, session_id, service_code, text}
    GET  /phones/api/phone/<number>   SMS inbox, held M-Pesa prompts, simulator controls
    POST /phones/api/answer           {phone, checkout_request_id, action: pin|cancel, pin}
    POST /phones/api/paybill          {phone, business, account, amount, pin}
    POST /phones/api/scenario         {phone, scenario}
"""
import time
import uuid

import requests
from flask import Blueprint, jsonify, render_template, request

from escrow.errors import EscrowError
from escrow.phone import normalize_msisdn
from phonesim.inbox import texts_to
from phonesim.screen import SCREEN_LIMIT, PhoneSimError, assess, parse_dialled

CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'"
USSD_TIMEOUT = 15          # seconds: past AT's 10 s, so a slow hop is shown as late rather than lost
SIMULATOR_TIMEOUT = 5
DEFAULT_PHONES = (("Buyer", "0712345678"), ("Seller", "0722000111"))


def make_phone_simulator_blueprint(db, vault, settings) -> Blueprint:
    """`settings`: the app's settings (MPESA_BASE_URL is the simulator; USSD_SERVICE_CODE; USSD_PATH_TOKEN)."""
    blueprint = Blueprint("phonesim", __name__, url_prefix="/phones", static_folder="static",
                          template_folder="templates")
    service_code = settings.get("USSD_SERVICE_CODE") or "*384*1234#"
    simulator = settings["MPESA_BASE_URL"].rstrip("/")
    ussd_path = f"/ussd/{settings['USSD_PATH_TOKEN']}" if settings.get("USSD_PATH_TOKEN") else "/ussd"

    def hop(phone: str, session_id: str, code: str, text: str) -> dict:
        form = {"sessionId": session_id, "serviceCode": code, "phoneNumber": "+" + phone,
                "networkCode": "63902", "text": text}
        started = time.perf_counter()
        answer = requests.post(request.host_url.rstrip("/") + ussd_path, data=form, timeout=USSD_TIMEOUT)
        note = assess(answer.text if answer.ok else f"HTTP {answer.status_code}", time.perf_counter() - started)
        return {**note, "session_id": session_id, "service_code": code, "text": text}

    def to_simulator(method: str, path: str, body: dict | None = None):
        try:
            answer = requests.request(method, simulator + path, json=body, timeout=SIMULATOR_TIMEOUT)
        except requests.RequestException as exc:
            return jsonify({"error": f"the Daraja simulator at {simulator} did not answer: {type(exc).__name__}"}), 502
        return jsonify(answer.json()), answer.status_code

    @blueprint.get("")
    def page():
        return render_template("phonesim/page.html", phones=DEFAULT_PHONES, service_code=service_code,
                               limit=SCREEN_LIMIT, simulator=simulator)

    @blueprint.post("/api/dial")
    def dial():
        form = _json()
        dialled = parse_dialled(form.get("dialled"), service_code)
        return jsonify(hop(_phone(form), f"ATUid_{uuid.uuid4().hex}", dialled.service_code, dialled.text))

    @blueprint.post("/api/reply")
    def reply():
        form = _json()
        session_id = str(form.get("session_id") or "")
        if not session_id.startswith("ATUid_"):
            raise PhoneSimError("no USSD session: dial first")
        return jsonify(hop(_phone(form), session_id, service_code, str(form.get("text") or "")))

    @blueprint.get("/api/phone/<number>")
    def phone_state(number):
        phone = _msisdn(number)
        answer, status = to_simulator("GET", f"/_sim/phones/{phone}")
        state = answer.get_json() if status == 200 else {"prompts": [], "error": answer.get_json().get("error")}
        return jsonify({**state, "sms": texts_to(db, vault, phone)})

    @blueprint.post("/api/answer")
    def answer_prompt():
        form = _json()
        return to_simulator("POST", f"/_sim/phones/{_phone(form)}/answer", {
            "checkout_request_id": form.get("checkout_request_id"), "action": form.get("action"), "pin": form.get("pin")})

    @blueprint.post("/api/paybill")
    def pay_bill():
        form = _json()
        return to_simulator("POST", f"/_sim/phones/{_phone(form)}/paybill", {
            key: form.get(key) for key in ("business", "account", "amount", "pin")})

    @blueprint.post("/api/scenario")
    def scenario():
        form = _json()
        return to_simulator("POST", "/_sim/scenario", {"phone": _phone(form), "scenario": form.get("scenario")})

    @blueprint.errorhandler(PhoneSimError)
    def refused(error):
        return jsonify({"error": str(error)}), 400

    @blueprint.errorhandler(requests.RequestException)
    def unreachable(error):
        return jsonify({"error": f"the service did not answer: {type(error).__name__}"}), 502

    @blueprint.after_request
    def harden(response):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    return blueprint


def _json() -> dict:
    """Only a JSON body (a cross-site form cannot send one without the browser asking first)."""
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise PhoneSimError("send a JSON object")
    return body


def _phone(form: dict) -> str:
    return _msisdn(form.get("phone"))


def _msisdn(number) -> str:
    try:
        return normalize_msisdn(str(number or ""))
    except EscrowError as exc:
        raise PhoneSimError(str(exc)) from None
