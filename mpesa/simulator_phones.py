"""Phones with a page open in the phone simulator (phonesim/): their M-Pesa prompts wait for a person.

A page polls GET /_sim/phones/<phone>; for WATCH_SECONDS after a poll the number counts as watched, and
an STK push to it is held as a prompt ("Pay KES 1,500 to ZEMI? Enter PIN") instead of being answered by
the simulator on its own. The person answers POST /_sim/phones/<phone>/answer
{"checkout_request_id", "action": "pin" | "cancel", "pin"}: the right PIN gives the phone's scenario
(success unless one was set), a wrong PIN 2001, cancel 1032; a prompt nobody answers within
`prompt_seconds` (default 60) ends with 1037. Numbers no page watches keep the automatic behaviour,
so scripts and tests that never open a page see no change.

POST /_sim/phones/<phone>/paybill {"business", "account", "amount", "pin"} pays the paybill from the
handset (a C2B confirmation to the registered URLs, as POST /_sim/paybill does)."""
import threading
import time
from datetime import timedelta

from flask import Flask, jsonify, request

from escrow.errors import EscrowError
from escrow.phone import normalize_msisdn
from mpesa import simulator_scenarios as daraja

PIN = "1234"                 # every simulated handset's M-Pesa PIN
WATCH_SECONDS = 5.0          # a page that has not polled for this long is closed
# What the handset shows the person is asked for; other scenarios never reach the handset
# (unreachable, busy, ...) or are the person's own answer (cancelled, wrong_pin), so they stay automatic.
SHOWN = {"success", "insufficient_funds", "late_callback", "duplicate_callback", "no_callback", "wrong_amount"}
ANSWERS = {"cancel": "cancelled", "wrong_pin": "wrong_pin", "timeout": "unreachable"}


class PhonePrompts:
    """The held prompts of one simulator, and which numbers a page is watching."""

    def __init__(self, sim):
        self._sim = sim
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._held: dict[str, dict] = {}

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
            self._held.clear()

    def watch(self, phone: str) -> list[dict]:
        """A page polled for `phone`: it is watched for a while; its prompts still waiting."""
        msisdn = normalize_msisdn(phone)
        with self._lock:
            self._seen[msisdn] = time.monotonic()
            held = [entry for entry in self._held.values() if entry["tx"]["phone"] == msisdn]
        return [self._prompt(entry) for entry in held]

    def hold(self, tx: dict, body: dict) -> bool:
        """Hold an STK push as a prompt on a watched handset; False leaves it to the automatic path."""
        with self._lock:
            seen = self._seen.get(tx["phone"])
            if seen is None or time.monotonic() - seen > WATCH_SECONDS or tx["scenario"] not in SHOWN:
                return False
            tx["final_at"] = float("inf")        # STK Query: "being processed" until answered
            seconds = float(self._sim.config.get("prompt_seconds", 60))
            self._held[tx["checkout_request_id"]] = {"tx": tx, "body": body, "expires": time.monotonic() + seconds}
        timer = threading.Timer(seconds, self.answer, args=(tx["phone"], tx["checkout_request_id"], "timeout"))
        timer.daemon = True
        timer.start()
        return True

    def answer(self, phone: str, checkout_request_id: str, action: str, pin: str | None = None) -> dict | None:
        """The person's answer; the callback it causes is sent as Daraja would. None: no such prompt."""
        with self._lock:
            entry = self._held.get(str(checkout_request_id))
            if entry is None or entry["tx"]["phone"] != normalize_msisdn(phone):
                return None
            del self._held[str(checkout_request_id)]
        if action == "pin" and pin != PIN:
            action = "wrong_pin"
        tx = entry["tx"]
        if action != "pin":
            self._replace_outcome(tx, ANSWERS.get(action, "cancelled"))
        self._settle(tx, entry["body"])
        return {"result_code": tx["result_code"], "result_desc": tx["result_desc"]}

    def _replace_outcome(self, tx: dict, scenario: str) -> None:
        code, desc = daraja.STK_OUTCOMES[scenario]
        tx.update(scenario=scenario, result_code=code, result_desc=desc, receipt=None)

    def _settle(self, tx: dict, body: dict) -> None:
        delay = self._sim._delay(late=tx["scenario"] == "late_callback")
        tx.update(delay=delay, final_at=time.monotonic() + delay,
                  transaction_date=(daraja.eat_now() + timedelta(seconds=delay)).strftime("%Y%m%d%H%M%S"))
        self._sim.statement.stk_paid(tx, body)
        self._sim._send_stk_callbacks(tx)

    def _prompt(self, entry: dict) -> dict:
        tx, body = entry["tx"], entry["body"]
        business = self._sim.config.get("business_name", "ZEMI")
        return {"checkout_request_id": tx["checkout_request_id"], "amount": tx["amount"],
                "account": body.get("AccountReference"), "business": business,
                "text": f"Pay KES {tx['amount']:,} to {business}? Enter PIN",
                "expires_in": max(0, round(entry["expires"] - time.monotonic()))}


def register_phone_routes(app: Flask, sim) -> None:
    prompts: PhonePrompts = sim.phones

    @app.get("/_sim/phones/<phone>")
    def phone_page_polls(phone):
        try:
            held = prompts.watch(phone)
        except EscrowError as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify({"phone": normalize_msisdn(phone), "prompts": held, "pin": PIN,
                        "paybill": sim.registered_shortcode(),
                        "scenarios": sorted(daraja.SCENARIOS), "business": sim.config.get("business_name", "ZEMI")})

    @app.post("/_sim/phones/<phone>/answer")
    def phone_answers(phone):
        body = request.get_json(silent=True) or {}
        try:
            outcome = prompts.answer(phone, body.get("checkout_request_id"), str(body.get("action")),
                                     None if body.get("pin") is None else str(body.get("pin")))
        except EscrowError as exc:
            return jsonify({"error": str(exc)}), 400
        if outcome is None:
            return jsonify({"error": "no such prompt on this phone (answered or timed out)"}), 404
        return jsonify(outcome)

    @app.post("/_sim/phones/<phone>/paybill")
    def phone_pays_bill(phone):
        body = request.get_json(silent=True) or {}
        if str(body.get("pin")) != PIN:
            return jsonify({"error": "Wrong PIN: nothing was paid"}), 403
        try:
            amount = daraja.whole_amount(body.get("amount"))
            if not amount or amount <= 0:
                raise ValueError("the amount must be a whole number of shillings")
            trans_id = sim.pay_bill(phone, amount, str(body.get("account") or "") or None,
                                    str(body.get("business") or "") or None)
        except (ValueError, EscrowError) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify({"TransID": trans_id, "registered": sim.registered_shortcode() is not None})
