"""The simulator's statement: every movement it made on its shortcodes, served as Daraja's Pull
Transactions API (docs/mpesa-statement.md), with the scenarios reconciliation must catch.

Lines are kept in M-Pesa's local time (EAT). Money in (STK and C2B payments) is positive, money
out (B2C payouts and their charges) negative. Pull Transactions serves money in only: Safaricom's
page says the API covers C2B transactions only; the whole statement is at GET /_sim/statement.

Scenarios, by receipt (POST /_sim/statement/scenario {"receipt", "scenario", "amount"?}):
  omit       the line is not on the statement (a callback with no payment behind it)
  duplicate  the line appears twice
  drift      the line shows `amount` instead of what was paid
A payment whose callback never came: POST /_sim/statement/payment {"phone", "amount", "account"}
(money taken at M-Pesa, no STK push or C2B confirmation ever sent to us).
The shortcode's own movements: POST /_sim/statement/movement {"shortcode", "movement", "amount"},
movement one of "sweep" (to the bank), "top-up" (funds transferred in), "charge", "reversal";
the balance (Account Balance, the export's Balance column) moves with them.
"""
import threading
import uuid
from datetime import datetime, timedelta, timezone

from flask import Flask, jsonify, request

from mpesa import simulator_scenarios as daraja

STATEMENT_SCENARIOS = ("omit", "duplicate", "drift")
PULLED_KINDS = ("CustomerPayBillOnline", "CustomerBuyGoodsOnline")   # Pull covers C2B payments only
INSUFFICIENT_FLOAT = (1, "The balance is insufficient for the transaction.")
PULL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
B2C_CHARGE = 22   # what the simulator charges per payout (KES); real tariffs vary by amount [?]
MOVEMENTS = {"sweep": ("BusinessWithdrawToBank", -1), "top-up": ("FloatAdjustment", 1),
             "charge": ("BusinessChargePayment", -1), "reversal": ("TransactionReversal", -1)}


class SimStatement:
    """Thread-safe list of statement lines, Pull registrations and per-receipt scenarios."""

    def __init__(self, config: dict):
        self.config = config
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._lines: list[dict] = []
            self._registered: dict[str, dict] = {}
            self._scenarios: dict[str, dict] = {}

    # -- what the simulator did ---------------------------------------------------------------

    def add(self, *, shortcode: str, receipt: str, at: datetime, kind: str, amount: int,
            account: str | None = None, msisdn: str | None = None) -> None:
        line = {"shortcode": str(shortcode), "receipt": receipt, "at": at.astimezone(daraja.EAT),
                "kind": kind, "amount": int(amount), "account": account or "", "msisdn": msisdn or ""}
        with self._lock:
            self._lines.append(line)

    def stk_paid(self, tx: dict, body: dict) -> None:
        """An STK push the customer completed: money in under the push's AccountReference."""
        if tx["result_code"] != 0:
            return
        at = datetime.strptime(tx["transaction_date"], "%Y%m%d%H%M%S").replace(tzinfo=daraja.EAT)
        self.add(shortcode=str(body.get("BusinessShortCode")), receipt=tx["receipt"], at=at,
                 kind="CustomerPayBillOnline", amount=tx["amount"], account=body.get("AccountReference"),
                 msisdn=tx["phone"])

    def c2b_paid(self, payment: dict, msisdn: str) -> None:
        at = datetime.strptime(payment["trans_time"], "%Y%m%d%H%M%S").replace(tzinfo=daraja.EAT)
        kind = "CustomerBuyGoodsOnline" if payment["transaction_type"] == "Buy Goods" else "CustomerPayBillOnline"
        self.add(shortcode=payment["shortcode"], receipt=payment["trans_id"], at=at, kind=kind,
                 amount=payment["amount"], account=payment["bill_ref_number"], msisdn=msisdn)

    def b2c_paid(self, payout: dict) -> None:
        """A payout that went out, and the charge M-Pesa took for it (same receipt, own line)."""
        if payout["result_code"] != 0:
            return
        common = dict(shortcode=payout["party_a"], receipt=payout["receipt"], at=payout["completed_at"],
                      msisdn=payout["phone"])
        self.add(kind="BusinessPayment", amount=-payout["amount"], **common)
        self.add(kind="BusinessPaymentCharge", amount=-B2C_CHARGE, **common)

    # -- balances: an opening balance (config "opening_balance") plus every line -----------------

    def balance(self, shortcode: str) -> int:
        with self._lock:
            moved = sum(line["amount"] for line in self._lines if line["shortcode"] == str(shortcode))
        return int(self.config.get("opening_balance", 10_000_000)) + moved

    def can_pay(self, shortcode: str, amount: int | None) -> bool:
        """Whether the shortcode's float covers a payout and its charge (else B2C fails: code 1)."""
        return amount is not None and self.balance(shortcode) >= amount + B2C_CHARGE

    def set_balance(self, shortcode: str, amount: int, receipt: str) -> None:
        """An empty float, or a top-up: one line bringing the balance to `amount`."""
        self.add(shortcode=shortcode, receipt=receipt, at=daraja.eat_now(), kind="FloatAdjustment",
                 amount=int(amount) - self.balance(shortcode))

    def move(self, shortcode: str, movement: str, amount: int, receipt: str) -> None:
        """One of the shortcode's own movements (MOVEMENTS), `amount` whole KES, positive."""
        kind, sign = MOVEMENTS[movement]
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.add(shortcode=shortcode, receipt=receipt, at=daraja.eat_now(), kind=kind, amount=sign * int(amount))

    def set_scenario(self, receipt: str, scenario: str, amount: int | None = None) -> None:
        if scenario not in STATEMENT_SCENARIOS:
            raise ValueError(f"scenario must be one of {STATEMENT_SCENARIOS}")
        if scenario == "drift" and amount is None:
            raise ValueError("drift needs an amount")
        with self._lock:
            self._scenarios[receipt] = {"scenario": scenario, "amount": amount}

    def lines(self, shortcode: str | None = None) -> list[dict]:
        """The statement as M-Pesa shows it (scenarios applied), oldest first."""
        with self._lock:
            lines, scenarios = list(self._lines), dict(self._scenarios)
        shown = []
        for line in sorted(lines, key=lambda item: item["at"]):
            if shortcode and line["shortcode"] != str(shortcode):
                continue
            scenario = scenarios.get(line["receipt"], {})
            if scenario.get("scenario") == "omit":
                continue
            if scenario.get("scenario") == "drift" and line["amount"] > 0:
                line = {**line, "amount": int(scenario["amount"])}
            shown.append(line)
            if scenario.get("scenario") == "duplicate":
                shown.append(dict(line))
        return shown

    # -- Pull Transactions ----------------------------------------------------------------------

    def register_pull(self, body: dict) -> tuple[dict, int]:
        shortcode = str(body.get("ShortCode") or "")
        if not shortcode.isdigit() or str(body.get("RequestType")) != "Pull":
            return daraja.envelope("400.002.02", "Bad Request - Invalid ShortCode or RequestType")
        if not daraja.url_is_acceptable(body.get("CallBackURL")):
            return daraja.invalid("CallBackURL")
        with self._lock:
            again = shortcode in self._registered
            self._registered[shortcode] = {"nominated": str(body.get("NominatedNumber") or ""),
                                           "callback_url": body.get("CallBackURL")}
        return {"ResponseRefID": str(uuid.uuid4()), "ResponseStatus": "1001" if again else "1000",
                "ShortCode": shortcode,
                "ResponseDescription": ("ShortCode already Registered" if again
                                        else "Shortcode Registered Successfully")}, 200

    def query_pull(self, body: dict) -> tuple[dict, int]:
        shortcode = str(body.get("ShortCode") or "")
        with self._lock:
            registered = shortcode in self._registered
        if not registered:
            return daraja.envelope("400.001", "Invalid ShortCode")
        start, end = _pull_time(body.get("StartDate")), _pull_time(body.get("EndDate"))
        offset = str(body.get("OffSetValue", ""))
        if start is None or end is None or not offset.isdigit():
            return daraja.envelope("400.002.02", "Bad Request - Invalid StartDate, EndDate or OffSetValue")
        size = int(self.config.get("pull_page_size") or 50)
        window = [line for line in self.lines(shortcode)
                  if line["kind"] in PULLED_KINDS and start <= line["at"] <= end]
        page = window[int(offset):int(offset) + size]
        ref = str(uuid.uuid4())
        if not page:
            return {"ResponseRefID": ref, "ResponseCode": "1001",
                    "ResponseMessage": "No transactions available for the selected time period",
                    "Response": [[]]}, 200
        return {"ResponseRefID": ref, "ResponseCode": "1000", "ResponseMessage": "Success",
                "Response": [[_pull_line(line, self.config) for line in page]]}, 200


def _pull_time(value) -> datetime | None:
    for pattern in PULL_FORMATS:
        try:
            return datetime.strptime(str(value), pattern).replace(tzinfo=daraja.EAT)
        except ValueError:
            continue
    return None


def _pull_line(line: dict, config: dict) -> dict:
    """One Pull Transactions line as Safaricom's page documents it; the number masked as C2B does."""
    msisdn = line["msisdn"]
    return {"transactionId": line["receipt"],
            "trxDate": line["at"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "msisdn": int(msisdn) if config.get("pull_clear_msisdn") and msisdn.isdigit() else _masked(msisdn),
            "sender": "", "transactiontype": line["kind"], "billreference": line["account"],
            "amount": f"{line['amount']}.00",
            "organizationname": "Zemi Escrow (simulated)"}


def _masked(msisdn: str) -> str:
    return f"{msisdn[:4]}*****{msisdn[-3:]}" if len(msisdn) >= 7 else ""


def register_statement_routes(app: Flask, sim, api) -> None:
    """Daraja's Pull paths (through the simulator's token and JSON checks, `api`) and the
    statement's control paths."""
    statement: SimStatement = sim.statement

    @app.post("/pulltransactions/v1/register")
    def pull_register():
        return api(sim, statement.register_pull)

    @app.post("/pulltransactions/v1/query")
    def pull_query():
        return api(sim, statement.query_pull)

    @app.get("/_sim/statement")
    def statement_lines():
        lines = statement.lines(request.args.get("shortcode"))
        return jsonify([{**line, "at": line["at"].isoformat()} for line in lines])

    @app.get("/_sim/statement.csv")
    def statement_csv():
        return portal_csv(statement, request.args.get("shortcode")), 200, {"Content-Type": "text/csv"}

    @app.post("/_sim/statement/scenario")
    def statement_scenario():
        body = request.get_json(silent=True) or {}
        try:
            amount = None if body.get("amount") is None else int(body["amount"])
            statement.set_scenario(str(body["receipt"]), str(body.get("scenario")), amount)
        except (KeyError, TypeError, ValueError) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify({"ok": True})

    @app.post("/_sim/statement/movement")
    def statement_movement():
        body = request.get_json(silent=True) or {}
        try:
            receipt = sim.ids.receipt()
            statement.move(str(int(body["shortcode"])), str(body["movement"]), int(body["amount"]), receipt)
        except (KeyError, TypeError, ValueError) as exc:
            return jsonify({"error": f"need shortcode, movement ({', '.join(MOVEMENTS)}) and amount: {exc}"}), 400
        return jsonify({"TransID": receipt, "balance": statement.balance(str(body["shortcode"]))})

    @app.post("/_sim/statement/payment")
    def statement_payment():
        body = request.get_json(silent=True) or {}
        try:
            receipt = pay_without_telling(sim, str(body["phone"]), int(body["amount"]), body.get("account"),
                                          body.get("shortcode"))
        except (KeyError, TypeError, ValueError) as exc:
            return jsonify({"error": f"need phone, amount and account: {exc}"}), 400
        return jsonify({"TransID": receipt})


PORTAL_REASONS = {"CustomerPayBillOnline": "Pay Bill Online", "CustomerBuyGoodsOnline": "Buy Goods Online",
                  "BusinessPayment": "Business Payment to Customer via API",
                  "BusinessPaymentCharge": "Business Payment Charge", "FloatAdjustment": "Organization Funds Transfer",
                  "BusinessWithdrawToBank": "Withdraw Funds to Bank", "BusinessChargePayment": "Business Charge",
                  "TransactionReversal": "Reversal"}
PORTAL_HEADER = ("Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,"
                 "Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.")


def portal_csv(statement: SimStatement, shortcode: str | None) -> str:
    """The statement as the M-Pesa org portal exports it (columns as public parsers of the export
    know them [?]); payers masked, payees in clear."""
    rows = [PORTAL_HEADER]
    balance = int(statement.config.get("opening_balance", 10_000_000)) if shortcode else 0
    for line in statement.lines(shortcode):
        balance += line["amount"]
        when = line["at"].strftime("%Y-%m-%d %H:%M:%S")
        reason = PORTAL_REASONS.get(line["kind"], line["kind"])
        party = line["msisdn"] if line["amount"] < 0 else _masked(line["msisdn"])
        paid_in, withdrawn = (f"{line['amount']}.00", "") if line["amount"] > 0 else ("", f"{line['amount']}.00")
        rows.append(",".join((line["receipt"], when, when, reason, "Completed", paid_in, withdrawn, f"{balance}.00",
                              "true", reason, f"{party} - JOHN DOE" if party else "", "",
                              (line["account"] or "").replace(",", " "))))
    return "\n".join(rows) + "\n"


def pay_without_telling(sim, phone: str, amount: int, account: str | None, shortcode: str | None = None,
                        ago_seconds: float = 0) -> str:
    """Money a customer paid at M-Pesa (to the STK shortcode unless told) that no callback ever
    reported: it exists only on the statement."""
    from escrow.phone import normalize_msisdn

    receipt = sim.ids.receipt()
    sim.statement.add(shortcode=str(shortcode or sim.config["shortcode"]), receipt=receipt,
                      at=daraja.eat_now() - timedelta(seconds=ago_seconds), kind="CustomerPayBillOnline",
                      amount=int(amount), account=account, msisdn=normalize_msisdn(phone))
    return receipt
