"""The simulator's memory and behaviour: tokens, STK/B2C/C2B records, scenarios, callbacks.

One process, all state behind one lock. Callbacks leave from a single background thread at their
due time and are never retried (Daraja does not retry either).
"""
import hashlib
import heapq
import itertools
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

from escrow.phone import normalize_msisdn
from mpesa import simulator_scenarios as daraja
from mpesa.simulator_statement import INSUFFICIENT_FLOAT, SimStatement
from mpesa.simulator_reversal import SimMoneyIn
from mpesa.simulator_phones import PhonePrompts

log = logging.getLogger(__name__)
ACCEPTED = "Accept the service request successfully."


class CallbackDispatcher:
    """Runs scheduled jobs (usually one POST) when due; `drain()` waits for all of them."""

    def __init__(self):
        self._cond = threading.Condition()
        self._jobs: list = []
        self._seq = itertools.count()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.deliveries: list[dict] = []

    def schedule(self, delay: float, job) -> None:
        with self._cond:
            heapq.heappush(self._jobs, (time.monotonic() + delay, next(self._seq), job))
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="daraja-sim-callbacks",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def post(self, url: str, payload: dict):
        """POST JSON once; the receiver's JSON answer (or None). Every attempt is recorded."""
        record = {"url": url, "payload": payload, "status": None, "error": None}
        try:
            record["status"], answer = _post_json(url, payload)
        except (OSError, ValueError) as exc:
            record["error"], answer = f"{exc.__class__.__name__}: {exc}", None
        with self._cond:
            self.deliveries.append(record)
        return answer

    def drain(self, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._jobs or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def clear(self) -> None:
        with self._cond:
            self._jobs.clear()
            self.deliveries.clear()
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                job = self._next_due()
                if job is None:
                    return
                self._busy += 1
            try:
                job()
            except Exception:  # a broken job must not kill the dispatcher
                log.exception("simulator callback job failed")
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _next_due(self):
        while not self._stopped:
            if not self._jobs:
                self._cond.wait()
                continue
            wait = self._jobs[0][0] - time.monotonic()
            if wait <= 0:
                return heapq.heappop(self._jobs)[2]
            self._cond.wait(wait)
        return None


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post_json(url: str, payload: dict) -> tuple[int, dict | None]:
    """(status, JSON answer or None); never through a proxy, whatever the environment says."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with _NO_PROXY.open(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    return status, answer if isinstance(answer, dict) else None


class Simulator:
    """Daraja's behaviour for one app; the Flask routes only translate HTTP to these methods."""

    def __init__(self, config: dict | None = None):
        self.config = {**daraja.DEFAULTS, **(config or {})}
        self.ids = daraja.Identifiers()
        self.dispatcher = CallbackDispatcher()
        self._lock = threading.RLock()
        self.statement = SimStatement(self.config)  # what it did, as M-Pesa's statement shows it
        self.money_in = SimMoneyIn()  # paybill payments taken, for status queries and reversals
        self.phones = PhonePrompts(self)  # prompts held for a person on the phone simulator page
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._tokens: dict[str, float] = {}
            self._received: list[dict] = []
            self._stk: dict[str, dict] = {}
            self._payouts: dict[str, dict] = {}
            self._scenarios: dict[str, dict] = {}
            self._registrations: dict[str, dict] = {}
        self.statement.reset()
        self.money_in.reset()
        self.phones.reset()
        self.dispatcher.clear()

    # -- control -------------------------------------------------------------------------------

    def set_scenario(self, phone: str, name: str, times: int | None = None) -> None:
        if name not in daraja.SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}")
        if times is None and name in daraja.ONCE:
            times = 1
        with self._lock:
            self._scenarios[normalize_msisdn(phone)] = {"name": name, "times": times}

    def take_scenario(self, phone: str, kind: str) -> str:
        with self._lock:
            entry = self._scenarios.get(phone)
            if entry and daraja.applies_to(entry["name"], kind):
                if entry["times"] is not None:
                    entry["times"] -= 1
                    if entry["times"] <= 0:
                        del self._scenarios[phone]
                return entry["name"]
        default = self.config["default_scenario"]
        return default if daraja.applies_to(default, kind) else "success"

    def record(self, entry: dict) -> None:
        with self._lock:
            self._received.append(entry)

    def requests_received(self, path: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._received if path is None or r["path"] == path]

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # -- OAuth ---------------------------------------------------------------------------------

    def issue_token(self, credentials: tuple[str, str] | None) -> tuple[dict, int]:
        expected = (self.config["consumer_key"], self.config["consumer_secret"])
        if credentials != expected:
            return daraja.envelope("400.008.01", "Invalid Authentication passed")
        token = secrets.token_urlsafe(21)
        with self._lock:
            self._tokens[token] = time.monotonic() + int(self.config["token_ttl"])
        return {"access_token": token, "expires_in": str(self.config["token_ttl"])}, 200

    def token_is_valid(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            return scheme == "Bearer" and self._tokens.get(token, 0) > time.monotonic()

    # -- M-Pesa Express ------------------------------------------------------------------------

    def stk_push(self, body: dict) -> tuple[dict, int]:
        problem = daraja.check_stk_push(body, self.config)
        if problem:
            return problem
        tx = self._new_stk(body)
        if not self.phones.hold(tx, body):   # a phone page is open for the number: its person answers
            self.statement.stk_paid(tx, body)
            self._send_stk_callbacks(tx)
        return {"MerchantRequestID": tx["merchant_request_id"],
                "CheckoutRequestID": tx["checkout_request_id"], "ResponseCode": "0",
                "ResponseDescription": "Success. Request accepted for processing",
                "CustomerMessage": "Success. Request accepted for processing"}, 200

    def _new_stk(self, body: dict) -> dict:
        phone = str(body["PhoneNumber"])
        scenario = self.take_scenario(phone, "stk")
        code, desc = daraja.STK_OUTCOMES[scenario]
        delay = self._delay(late=scenario == "late_callback")
        tx = {"checkout_request_id": self.ids.checkout_request_id(),
              "merchant_request_id": self.ids.merchant_request_id(), "phone": phone,
              "amount": daraja.whole_amount(body["Amount"]), "scenario": scenario,
              "callback_url": body["CallBackURL"], "result_code": code, "result_desc": desc,
              "receipt": self.ids.receipt() if code == 0 else None, "delay": delay,
              "final_at": time.monotonic() + delay,
              "transaction_date": (daraja.eat_now() + timedelta(seconds=delay)).strftime(
                  "%Y%m%d%H%M%S")}
        with self._lock:
            self._stk[tx["checkout_request_id"]] = tx
        return tx

    def _send_stk_callbacks(self, tx: dict) -> None:
        if tx["scenario"] == "no_callback":
            return
        amount = tx["amount"] - 1 if tx["scenario"] == "wrong_amount" else None
        payload = daraja.stk_callback(tx, amount)
        copies = 2 if tx["scenario"] == "duplicate_callback" else 1
        for n in range(copies):
            self.dispatcher.schedule(tx["delay"] + 0.05 * n,
                                     lambda: self.dispatcher.post(tx["callback_url"], payload))

    def stk_query(self, body: dict) -> tuple[dict, int]:
        problem = daraja.check_stk_credentials(body, self.config)
        if problem:
            return problem
        with self._lock:
            tx = self._stk.get(str(body.get("CheckoutRequestID")))
        if tx is None:
            return daraja.invalid("CheckoutRequestID")
        if time.monotonic() < tx["final_at"]:
            return daraja.envelope("500.001.1001", "The transaction is being processed")
        return {"ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": tx["merchant_request_id"],
                "CheckoutRequestID": tx["checkout_request_id"],
                "ResultCode": str(tx["result_code"]), "ResultDesc": tx["result_desc"]}, 200

    def _delay(self, late: bool = False) -> float:
        return float(self.config["late_delay" if late else "callback_delay"])

    # -- B2C and Transaction Status ------------------------------------------------------------

    def b2c(self, body: dict, version: str) -> tuple[dict, int]:
        problem = daraja.check_b2c(body, self.config, version)
        if problem:
            return problem
        originator = str(body.get("OriginatorConversationID") or self.ids.merchant_request_id())
        with self._lock:
            if any(p["originator_conversation_id"] == originator for p in self._payouts.values()):
                return daraja.envelope("500.002.1001", "Duplicate OriginatorConversationID.")
            payout = self._new_payout(body, originator)
        self.statement.b2c_paid(payout)
        self._send_b2c_callbacks(payout)
        return {"ConversationID": payout["conversation_id"],
                "OriginatorConversationID": originator, "ResponseCode": "0",
                "ResponseDescription": ACCEPTED}, 200

    def _new_payout(self, body: dict, originator: str) -> dict:
        phone = str(body["PartyB"])
        scenario = (self.take_scenario(phone, "b2c")
                    if daraja.initiator_is_valid(body, self.config) else "b2c_failure")
        code, desc = daraja.B2C_FAILURES.get(scenario, (0, daraja.SUCCESS_DESC))
        if code == 0 and not self.statement.can_pay(str(body["PartyA"]), daraja.whole_amount(body["Amount"])):
            code, desc = INSUFFICIENT_FLOAT
        delay = self._delay(late=scenario == "b2c_queue_timeout_then_success")
        payout = {"originator_conversation_id": originator, "scenario": scenario,
                  "conversation_id": self.ids.conversation_id(), "phone": phone,
                  "amount": daraja.whole_amount(body["Amount"]), "party_a": str(body["PartyA"]),
                  "result_url": body["ResultURL"], "timeout_url": body["QueueTimeOutURL"],
                  "result_code": code, "result_desc": desc, "receipt": self.ids.receipt(),
                  "status": "Completed" if code == 0 else "Failed", "delay": delay,
                  "final_at": time.monotonic() + delay,
                  "completed_at": daraja.eat_now() + timedelta(seconds=delay)}
        self._payouts[payout["conversation_id"]] = payout
        return payout

    def _send_b2c_callbacks(self, payout: dict) -> None:
        post = self.dispatcher.post
        if payout["scenario"] == "b2c_queue_timeout_then_success":
            notice = daraja.b2c_queue_timeout(payout)
            self.dispatcher.schedule(self._delay(), lambda: post(payout["timeout_url"], notice))
        if payout["scenario"] not in ("b2c_no_result", "b2c_failure_no_result"):
            result = daraja.b2c_result(payout)
            self.dispatcher.schedule(payout["delay"], lambda: post(payout["result_url"], result))

    def transaction_status(self, body: dict) -> tuple[dict, int]:
        problem = daraja.check_transaction_status(body, self.config)
        if problem:
            return problem
        query = {"originator_conversation_id": self.ids.merchant_request_id(),
                 "conversation_id": self.ids.conversation_id(),
                 "transaction_id": self.ids.receipt(), "occasion": body.get("Occasion")}
        original = body.get("OriginalConversationID")
        receipt = body.get("TransactionID")

        def answer():
            payout = self._find_payout(original, receipt)
            paybill = self.money_in.status_result(body, query) if payout is None else None
            self.dispatcher.post(body["ResultURL"], paybill or daraja.transaction_status_result(query, payout))
        self.dispatcher.schedule(self._delay(), answer)
        return {"ConversationID": query["conversation_id"],
                "OriginatorConversationID": query["originator_conversation_id"],
                "ResponseCode": "0", "ResponseDescription": ACCEPTED}, 200

    def _find_payout(self, originator: str | None, receipt: str | None) -> dict | None:
        """The payout as M-Pesa sees it now: 'Pending' until its result time has come."""
        with self._lock:
            match = next((p for p in self._payouts.values()
                          if (originator and p["originator_conversation_id"] == originator)
                          or (receipt and p["receipt"] == receipt)), None)
        if match is None or time.monotonic() >= match["final_at"]:
            return match
        return {**match, "status": "Pending"}

    # -- C2B -----------------------------------------------------------------------------------

    def register_urls(self, body: dict, version: str) -> tuple[dict, int]:
        problem = daraja.check_c2b_registration(body)
        if problem:
            return problem
        with self._lock:
            self._registrations[str(body["ShortCode"])] = {
                "confirmation_url": body["ConfirmationURL"], "version": version,
                "validation_url": body.get("ValidationURL"), "response_type": body["ResponseType"]}
        return {"OriginatorCoversationID": self.ids.merchant_request_id(), "ResponseCode": "0",
                "ResponseDescription": "Success"}, 200

    def registered_shortcode(self) -> str | None:
        """The shortcode whose C2B URLs were registered last (what a paybill payment goes to)."""
        with self._lock:
            return next(reversed(self._registrations), None)

    def c2b_simulate(self, body: dict) -> tuple[dict, int]:
        problem = daraja.check_c2b_simulation(body)
        if problem:
            return problem
        self.pay_bill(str(body["Msisdn"]), daraja.whole_amount(body["Amount"]),
                      body.get("BillRefNumber"), str(body["ShortCode"]), body["CommandID"])
        return {"OriginatorCoversationID": self.ids.merchant_request_id(), "ResponseCode": "0",
                "ResponseDescription": ACCEPTED}, 200

    def pay_bill(self, phone: str, amount: int, account: str | None, shortcode: str | None = None,
                 command_id: str = "CustomerPayBillOnline") -> str:
        """A customer pays the paybill/till: validation (if registered), then confirmation."""
        with self._lock:
            shortcode = shortcode or next(reversed(self._registrations), None) or "600984"
            registration = self._registrations.get(str(shortcode))
        msisdn = normalize_msisdn(phone)
        payment = {"trans_id": self.ids.receipt(), "amount": int(amount), "shortcode": shortcode,
                   "trans_time": daraja.eat_now().strftime("%Y%m%d%H%M%S"),
                   "transaction_type": "Buy Goods" if "BuyGoods" in command_id else "Pay Bill",
                   "bill_ref_number": account, "balance": 25000 + int(amount),
                   "msisdn": _c2b_msisdn(msisdn, registration), "payer": msisdn}
        if registration:
            self.dispatcher.schedule(self._delay(), lambda: self._deliver_c2b(registration, payment))
        else:  # nobody registered to hear of it: the money moved all the same
            self.statement.c2b_paid(payment, msisdn)
            self.money_in.paid(payment)
        return payment["trans_id"]

    def _deliver_c2b(self, registration: dict, payment: dict) -> None:
        if registration.get("validation_url"):
            answer = self.dispatcher.post(registration["validation_url"],
                                          daraja.c2b_body(payment, confirmation=False))
            if answer is None and registration["response_type"] != "Completed":
                return
            if answer is not None and str(answer.get("ResultCode")) != "0":
                return
            payment["third_party_trans_id"] = str((answer or {}).get("ThirdPartyTransID") or "")
        self.statement.c2b_paid(payment, payment["payer"])
        self.money_in.paid(payment)
        self.dispatcher.post(registration["confirmation_url"],
                             daraja.c2b_body(payment, confirmation=True))


def _c2b_msisdn(msisdn: str, registration: dict | None) -> str:
    """v1 masks the number ('2547 ***** 126'); v2 sends a SHA-256 hash."""
    if registration and registration["version"] == "v2":
        return hashlib.sha256(msisdn.encode()).hexdigest()
    return f"{msisdn[:4]} ***** {msisdn[-3:]}"
