"""The simulator's Account Balance (asynchronous, like Daraja's) and its float control.

POST /mpesa/accountbalance/v1/query answers at once and POSTs the Result to ResultURL; balances
come from the simulator's statement (an opening balance plus every line). POST /_sim/float
{"shortcode", "amount"} sets a shortcode's balance (0: an empty float, so B2C fails with code 1)."""
from flask import Flask, jsonify, request

from mpesa import simulator_scenarios as daraja

ACCEPTED = "Accept the service request successfully"


def balance_result(query: dict, balance: int) -> dict:
    """The Result as Daraja's Account Balance page shows it (ResultType/ResultCode as strings)."""
    accounts = "&".join(f"{name}|KES|{amount}.00|{amount}.00|0.00|0.00" for name, amount in (
        ("Working Account", 0), ("Float Account", 0), ("Utility Account", balance),
        ("Charges Paid Account", 0), ("Organization Settlement Account", 0)))
    return {"Result": {
        "ResultType": "0", "ResultCode": "0", "ResultDesc": "The service request is processed successfully",
        "OriginatorConversationID": query["originator_conversation_id"],
        "ConversationID": query["conversation_id"], "TransactionID": query["transaction_id"],
        "ResultParameters": {"ResultParameter": [
            {"Key": "AccountBalance", "Value": accounts},
            {"Key": "BOCompletedTime", "Value": daraja.eat_now().strftime("%Y%m%d%H%M%S")}]},
        "ReferenceData": {"ReferenceItem": {
            "Key": "QueueTimeoutURL", "Value": "https://internalsandbox.safaricom.co.ke/mpesa/abresults/v1/submit"}}}}


def account_balance(sim, body: dict) -> tuple[dict, int]:
    party = str(body.get("PartyA") or "")
    if body.get("CommandID") != "AccountBalance" or not party.isdigit():
        return daraja.invalid("PartyA or CommandID")
    for name in ("ResultURL", "QueueTimeOutURL"):
        if not daraja.url_is_acceptable(body.get(name)):
            return daraja.invalid(name)
    if not daraja.initiator_is_valid(body, sim.config):
        return daraja.envelope("400.002.02", "Bad Request - Invalid Initiator")
    query = {"originator_conversation_id": sim.ids.merchant_request_id(),
             "conversation_id": sim.ids.conversation_id(), "transaction_id": sim.ids.receipt()}

    def answer():
        sim.dispatcher.post(body["ResultURL"], balance_result(query, sim.statement.balance(party)))
    sim.dispatcher.schedule(float(sim.config["callback_delay"]), answer)
    return {"OriginatorConversationID": query["originator_conversation_id"],
            "ConversationID": query["conversation_id"], "ResponseCode": "0", "ResponseDescription": ACCEPTED}, 200


def register_balance_routes(app: Flask, sim, api) -> None:
    @app.post("/mpesa/accountbalance/v1/query")
    def balance_query():
        return api(sim, lambda body: account_balance(sim, body))

    @app.post("/_sim/float")
    def set_float():
        body = request.get_json(silent=True) or {}
        try:
            sim.statement.set_balance(str(int(body["shortcode"])), int(body["amount"]), sim.ids.receipt())
        except (KeyError, TypeError, ValueError) as exc:
            return jsonify({"error": f"need shortcode and amount: {exc}"}), 400
        return jsonify({"ok": True, "balance": sim.statement.balance(str(body["shortcode"]))})
