"""A local stand-in for Africa's Talking's SMS API, for tests and local runs.

It speaks AT's send API (POST /version1/messaging, form fields, `apiKey` header, 201 +
SMSMessageData) and misbehaves on request: refuse a number with a statusCode, answer 401
(or 5xx) to everything, answer slowly, answer InvalidSenderId for a bad sender, label its
JSON with another content type. It also plays AT's side of the callbacks (delivery reports,
incoming messages). Controls: AtSmsDouble's methods (`app.extensions["at_double"]`, also
reachable on AtDoubleServer) and a small JSON API under /_double/.
"""
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from escrow.errors import InvalidPhoneNumber
from escrow.phone import normalize_msisdn, to_e164

DEFAULTS = {"username": None, "api_key": "test-api-key", "bad_sender_ids": ("BADSENDER",),
            "content_type": "application/json", "cost_per_part": "0.8000", "network_code": "63902"}
STATUS_NAMES = {100: "Processed", 101: "Sent", 102: "Queued", 401: "RiskHold",
                402: "InvalidSenderId", 403: "InvalidPhoneNumber", 404: "UnsupportedNumberType",
                405: "InsufficientBalance", 406: "UserInBlacklist", 407: "CouldNotRoute",
                409: "DoNotDisturbRejection", 500: "InternalServerError", 501: "GatewayError",
                502: "RejectedByGateway"}
AUTH_FAILURE = "The supplied authentication is invalid"
TEXT_PLAIN = "text/plain; charset=UTF-8"
_GSM7 = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
         "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_EXTENDED = "^{}\\[]~|€\f"


class AtSmsDouble:
    """The double's state and controls. Thread-safe: the server answers in threads."""

    def __init__(self, config: dict | None = None):
        self.config = {**DEFAULTS, **(config or {})}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.reset()

    def reset(self) -> None:
        """Forget received messages and every misbehaviour."""
        with self._lock:
            self._messages, self._failures = [], {}
            self._failing_status, self._delay_s = None, 0.0
            self._content_type = self.config["content_type"]
            self._bad_senders = set(self.config["bad_sender_ids"])

    def fail_number(self, number: str, status_code: int, times: int | None = None) -> None:
        """Refuse `number` with `status_code` (the next `times` sends only, or always)."""
        with self._lock:
            self._failures[_e164(number)] = (int(status_code), times)

    def fail_requests(self, http_status: int | None = 401) -> None:
        """Answer every API request with this HTTP status (401: AT's auth text); None: stop."""
        with self._lock:
            self._failing_status = http_status

    def delay(self, seconds: float) -> None:
        """Wait this long before answering API requests (to force client timeouts)."""
        with self._lock:
            self._delay_s = float(seconds)

    def add_bad_sender(self, sender_id: str) -> None:
        """Answer InvalidSenderId (201, no recipients) when `from` is this sender."""
        with self._lock:
            self._bad_senders.add(sender_id)

    def set_content_type(self, content_type: str) -> None:
        """Label the 201 JSON with this Content-Type (e.g. with a charset)."""
        with self._lock:
            self._content_type = content_type

    def messages(self) -> list[dict]:
        """One record per recipient of each send we answered 201 to, oldest first."""
        with self._lock:
            return [dict(m) for m in self._messages]

    def release(self) -> None:
        """Cut every current and future delay short (used when stopping)."""
        self._wake.set()

    def post_delivery_reports(self, url: str, status: str = "Success",
                              failure_reason: str | None = None, only=None) -> list[int]:
        """POST a report for each accepted message (or those whose id or number is in `only`)."""
        wanted = set(only) if only is not None else None
        sent = [m for m in self.messages() if m["message_id"]
                and (wanted is None or {m["message_id"], m["to"]} & wanted)]
        return [_post_form(url, self._delivery_report(m, status, failure_reason)) for m in sent]

    def post_inbound(self, url: str, from_phone: str, text: str, to: str = "12345") -> int:
        """POST an incoming message, as AT does when someone texts our short code."""
        form = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "from": _e164(from_phone), "id": str(uuid.uuid4()), "linkId": str(uuid.uuid4()),
                "text": text, "to": to, "networkCode": self.config["network_code"]}
        return _post_form(url, form)

    def _delivery_report(self, message: dict, status: str, failure_reason: str | None) -> dict:
        form = {"id": message["message_id"], "status": status, "phoneNumber": message["to"],
                "networkCode": self.config["network_code"], "retryCount": "0"}
        if failure_reason or status in ("Failed", "Rejected"):
            form["failureReason"] = failure_reason or "DeliveryFailure"
        return form

    def wait_before_answering(self) -> None:
        if self._delay_s > 0:
            self._wake.wait(self._delay_s)

    def refusal(self, api_key: str | None, username: str | None) -> Response | None:
        """The whole-request failure to answer with, if any (forced, or a wrong key/username)."""
        expected_user = self.config["username"]
        status = self._failing_status
        if status is None and (api_key != self.config["api_key"]
                               or expected_user not in (None, username)):
            status = 401
        if status is None:
            return None
        return Response(AUTH_FAILURE if status == 401 else "Internal error", status,
                        content_type=TEXT_PLAIN)

    def answer_send(self, form, api_key: str | None) -> tuple[dict, str]:
        """The SMSMessageData for one send request, and the content type to label it with."""
        sender = form.get("from")
        if sender in self._bad_senders:
            refused = {"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}
            return refused, self._content_type
        accepted_code = 102 if form.get("enqueue") == "1" else 101
        parts = message_parts(form.get("message", ""))
        numbers = [n.strip() for n in form.get("to", "").split(",") if n.strip()]
        recipients = [self._recipient(n, accepted_code, parts, form, api_key) for n in numbers]
        return {"SMSMessageData": {"Message": self._summary(recipients, parts),
                                   "Recipients": recipients}}, self._content_type

    def _recipient(self, number: str, accepted_code: int, parts: int, form, api_key) -> dict:
        code = self._take_failure(number) or (accepted_code if _valid(number) else 403)
        ok = code in (100, 101, 102)
        recipient = {"statusCode": code, "number": number,
                     "status": "Success" if ok else STATUS_NAMES.get(code, "Failed"),
                     "cost": f"KES {self._cost(parts)}" if ok else "0",
                     "messageId": f"ATXid_{uuid.uuid4().hex}" if ok else "None"}
        self._record(number, form, api_key, recipient)
        return recipient

    def _take_failure(self, number: str) -> int | None:
        with self._lock:
            code, times = self._failures.pop(number, (None, None))
            if code is not None and (times is None or times > 1):
                self._failures[number] = (code, None if times is None else times - 1)
            return code

    def _record(self, number: str, form, api_key, recipient: dict) -> None:
        message_id = recipient["messageId"] if recipient["messageId"] != "None" else None
        with self._lock:
            self._messages.append({
                "to": number, "message": form.get("message"), "from": form.get("from"),
                "message_id": message_id, "status_code": recipient["statusCode"],
                "username": form.get("username"), "enqueue": form.get("enqueue"),
                "bulk_sms_mode": form.get("bulkSMSMode"), "api_key": api_key})

    def _cost(self, parts: int) -> str:
        return f"{float(self.config['cost_per_part']) * parts:.4f}"

    def _summary(self, recipients: list[dict], parts: int) -> str:
        sent = sum(1 for r in recipients if r["statusCode"] in (100, 101, 102))
        return (f"Sent to {sent}/{len(recipients)} Total Cost: KES {self._cost(parts * sent)} "
                f"Message parts: {parts}")


def create_at_double(config: dict | None = None) -> Flask:
    """A Flask app speaking AT's SMS API; its controls are at app.extensions["at_double"]."""
    app = Flask(__name__)
    double = AtSmsDouble(config)
    app.extensions["at_double"] = double

    @app.before_request
    def slow_or_refused():
        if request.path.startswith("/version1/"):
            double.wait_before_answering()
            return double.refusal(request.headers.get("apiKey"), request.values.get("username"))

    @app.post("/version1/messaging")
    def send():
        missing = [f for f in ("username", "to", "message") if not request.form.get(f)]
        if missing:
            return Response(f"Missing required field: {missing[0]}", 400, content_type=TEXT_PLAIN)
        body, content_type = double.answer_send(request.form, request.headers.get("apiKey"))
        return Response(json.dumps(body), 201, content_type=content_type)

    @app.get("/version1/user")
    def user():
        return Response(json.dumps({"UserData": {"balance": "KES 1000.00"}}), 200,
                        content_type="application/json")

    _add_control_routes(app, double)
    return app


def _add_control_routes(app: Flask, double: AtSmsDouble) -> None:
    """The /_double/ JSON API: the same controls as the Python methods."""
    actions = {
        "fail_number": lambda j: double.fail_number(j["number"], j["status_code"], j.get("times")),
        "fail_requests": lambda j: double.fail_requests(j.get("http_status", 401)),
        "delay": lambda j: double.delay(j["seconds"]),
        "bad_sender": lambda j: double.add_bad_sender(j["sender_id"]),
        "content_type": lambda j: double.set_content_type(j["content_type"]),
        "reset": lambda j: double.reset(),
        "delivery_reports": lambda j: double.post_delivery_reports(
            j["url"], j.get("status", "Success"), j.get("failure_reason"), j.get("only")),
        "inbound": lambda j: double.post_inbound(j["url"], j["from"], j["text"],
                                                 j.get("to", "12345")),
    }

    @app.post("/_double/<action>")
    def control(action):
        if action not in actions:
            return jsonify(error=f"unknown control {action}"), 404
        return jsonify(result=actions[action](request.get_json(silent=True) or {}))

    @app.get("/_double/messages")
    def received():
        return jsonify(messages=double.messages())


class AtDoubleServer:
    """The double served over HTTP on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, config: dict | None = None):
        self.app = create_at_double(config)
        self.double: AtSmsDouble = self.app.extensions["at_double"]
        self._server = None
        self._thread = None

    def start(self) -> "AtDoubleServer":
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        self.double.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "AtDoubleServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __getattr__(self, name):
        """The double's controls (fail_number, messages, ...) reachable on the server too."""
        double = self.__dict__.get("double")
        if double is None:
            raise AttributeError(name)
        return getattr(double, name)


def message_parts(text: str) -> int:
    """How many SMS parts `text` needs (GSM-7: 160, then 153 a part; UCS-2: 70, then 67)."""
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in text):
        units, single, each = sum(2 if c in _GSM7_EXTENDED else 1 for c in text), 160, 153
    else:
        units, single, each = len(text), 70, 67
    return 1 if units <= single else -(-units // each)


def _post_form(url: str, form: dict) -> int:
    data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _e164(number: str) -> str:
    try:
        return to_e164(normalize_msisdn(number))
    except InvalidPhoneNumber:
        return number.strip()


def _valid(number: str) -> bool:
    return number.startswith("+") and number[1:].isdigit() and len(number) >= 8
