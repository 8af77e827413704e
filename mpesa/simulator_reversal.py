"""The simulator's side of checks on money in and of Reversal (issue 11 finding 3).

- It remembers every paybill payment whose money moved (validation passed or off).
- Transaction Status on such a TransID answers, as Daraja does, at the ResultURL: 'Completed'
  (or 'Reversed' once reversed) with Amount and ReceiptNo, but only when PartyA is the shortcode it
  was paid to with IdentifierType 4 (an initiator of another organisation is refused, 2001). A
  TransID it never received falls through to the usual "no such transaction" answer.
- POST /mpesa/reversal/v1/request (C.8): the request is checked field by field
  (`RecieverIdentifierType` "11", misspelled as on the wire), answered synchronously, and its
  Result posted to ResultURL: success, R000001 already reversed, R000002 unknown TransactionID, or
  2001 for a wrong amount or receiving party.

Test controls (on the Simulator object, `sim.money_in`): `drop_results(n)` carries out the next n
reversals but never posts their Result (a lost callback); `reverse_elsewhere(trans_id)` reverses a
payment as customer care would, so our own request then fails with R000001.
"""
import threading
from datetime import datetime

from flask import Flask

from mpesa import simulator_scenarios as daraja

ACCEPTED = "Accept the service request successfully."
ALREADY_REVERSED = ("R000001", "The transaction has already been reversed.")
UNKNOWN_TRANSACTION = ("R000002", "The OriginalTransactionID is invalid.")
NOT_ALLOWED = (2001, "The initiator information is invalid.")


class SimMoneyIn:
    """Paybill payments the simulator took, and which of them were reversed."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._paid: dict[str, dict] = {}
            self._reversed: set[str] = set()
            self._results_to_drop = 0

    def paid(self, payment: dict) -> None:
        with self._lock:
            self._paid[payment["trans_id"]] = dict(payment)

    def reversed(self, trans_id: str) -> bool:
        with self._lock:
            return trans_id in self._reversed

    def drop_results(self, count: int) -> None:
        with self._lock:
            self._results_to_drop = int(count)

    def reverse_elsewhere(self, trans_id: str) -> None:
        with self._lock:
            self._reversed.add(trans_id)

    # -- Transaction Status ---------------------------------------------------------------------

    def status_result(self, body: dict, query: dict) -> dict | None:
        """The Result for a status query on a paybill TransID we took; None: not one of ours."""
        with self._lock:
            payment = self._paid.get(str(body.get("TransactionID") or ""))
            reversed_ = payment is not None and payment["trans_id"] in self._reversed
        if payment is None:
            return None
        result = _envelope(query, 0, daraja.SUCCESS_DESC, query["transaction_id"])
        if str(body.get("PartyA")) != str(payment["shortcode"]) or str(body.get("IdentifierType")) != "4":
            return {"Result": {**result, "ResultCode": NOT_ALLOWED[0], "ResultDesc": NOT_ALLOWED[1]}}
        when = payment["trans_time"]
        result["ResultParameters"] = {"ResultParameter": [
            {"Key": "DebitPartyName", "Value": f"{payment['msisdn']} - JOHN DOE"},
            {"Key": "CreditPartyName", "Value": f"{payment['shortcode']} - Zemi Escrow"},
            {"Key": "OriginatorConversationID", "Value": query["originator_conversation_id"]},
            {"Key": "InitiatedTime", "Value": int(when)}, {"Key": "DebitAccountType", "Value": "MMF Account"},
            {"Key": "DebitPartyCharges"}, {"Key": "TransactionReason"},
            {"Key": "ReasonType", "Value": "Pay Bill Online"},
            {"Key": "TransactionStatus", "Value": "Reversed" if reversed_ else "Completed"},
            {"Key": "FinalisedTime", "Value": int(when)}, {"Key": "Amount", "Value": float(payment["amount"])},
            {"Key": "ConversationID", "Value": query["conversation_id"]},
            {"Key": "ReceiptNo", "Value": payment["trans_id"]}]}
        result["ReferenceData"] = {"ReferenceItem": {"Key": "Occasion", "Value": body.get("Occasion") or ""}}
        return {"Result": result}

    # -- Reversal ---------------------------------------------------------------------------------

    def reverse(self, body: dict, ids: daraja.Identifiers) -> tuple[tuple[dict, int], dict | None]:
        """(synchronous answer, Result to post to ResultURL or None: the request was refused, or its
    Result is to be lost)."""
        problem = check_reversal(body)
        if problem:
            return problem, None
        query = {"originator_conversation_id": ids.merchant_request_id(), "conversation_id": ids.conversation_id()}
        trans_id, amount = str(body["TransactionID"]), daraja.whole_amount(body["Amount"])
        with self._lock:
            payment = self._paid.get(trans_id)
            if payment is None:
                code, desc = UNKNOWN_TRANSACTION
            elif trans_id in self._reversed:
                code, desc = ALREADY_REVERSED
            elif amount != payment["amount"] or str(body["ReceiverParty"]) != str(payment["shortcode"]):
                code, desc = NOT_ALLOWED
            else:
                code, desc = 0, daraja.SUCCESS_DESC
                self._reversed.add(trans_id)
            silent = self._results_to_drop > 0
            self._results_to_drop -= int(silent)
        result = _envelope(query, code, desc, ids.receipt() if code == 0 else "")
        if code == 0:
            result["ResultParameters"] = {"ResultParameter": [
                {"Key": "DebitAccountBalance", "Value": "Utility Account|KES|51661.00|51661.00|0.00|0.00"},
                {"Key": "Amount", "Value": float(amount)},
                {"Key": "TransCompletedTime", "Value": int(datetime.now(daraja.EAT).strftime("%Y%m%d%H%M%S"))},
                {"Key": "OriginalTransactionID", "Value": trans_id}, {"Key": "Charge", "Value": 0.0},
                {"Key": "CreditPartyPublicName", "Value": f"{payment['msisdn']} - JOHN DOE"},
                {"Key": "DebitPartyPublicName", "Value": f"{payment['shortcode']} - Zemi Escrow"}]}
        answer = {"OriginatorConversationID": query["originator_conversation_id"],
                  "ConversationID": query["conversation_id"], "ResponseCode": "0", "ResponseDescription": ACCEPTED}
        return (answer, 200), None if silent else {"Result": result}


def _envelope(query: dict, code, desc: str, transaction_id: str) -> dict:
    return {"ResultType": 0, "ResultCode": code, "ResultDesc": desc,
            "OriginatorConversationID": query["originator_conversation_id"],
            "ConversationID": query["conversation_id"], "TransactionID": transaction_id}


def check_reversal(body: dict):
    """Daraja's Reversal request validation (C.8); None when acceptable."""
    remarks = str(body.get("Remarks") or "")
    checks = [
        ("Initiator", bool(body.get("Initiator")) and bool(body.get("SecurityCredential"))),
        ("CommandID", body.get("CommandID") == "TransactionReversal"),
        ("TransactionID", bool(body.get("TransactionID"))),
        ("Amount", daraja.whole_amount(body.get("Amount")) is not None),
        ("ReceiverParty", str(body.get("ReceiverParty") or "").isdigit()),
        ("RecieverIdentifierType", str(body.get("RecieverIdentifierType")) == "11"),
        ("ResultURL", daraja.url_is_acceptable(body.get("ResultURL"))),
        ("QueueTimeOutURL", daraja.url_is_acceptable(body.get("QueueTimeOutURL"))),
        ("Remarks", 2 <= len(remarks) <= 100),
    ]
    return next((daraja.invalid(name) for name, ok in checks if not ok), None)


def register_reversal_routes(app: Flask, sim, api) -> None:
    """POST /mpesa/reversal/v1/request on the simulator app; `api` is its token-then-JSON wrapper."""
    @app.post("/mpesa/reversal/v1/request")
    def reversal():
        def handle(body):
            trans_id = str(body.get("TransactionID") or "")
            before = sim.money_in.reversed(trans_id)
            answer, result = sim.money_in.reverse(body, sim.ids)
            if not before and sim.money_in.reversed(trans_id):   # the money left the shortcode: on its statement
                receipt = (result or {}).get("Result", {}).get("TransactionID") or sim.ids.receipt()
                sim.statement.add(shortcode=str(body["ReceiverParty"]), receipt=receipt, at=daraja.eat_now(),
                                  kind="TransactionReversal", amount=-daraja.whole_amount(body["Amount"]))
            if result is not None:
                sim.dispatcher.schedule(sim.config["callback_delay"],
                                        lambda: sim.dispatcher.post(body["ResultURL"], result))
            return answer
        return api(sim, handle)
