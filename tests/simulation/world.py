"""The world outside Zemi, as one seeded double: M-Pesa's truth and the mail it sends us.

`World` implements the core's PaymentGateway port. It keeps what M-Pesa really did (money taken
from buyers, money paid to phones), decides every fate with the one `random.Random` it is given,
and queues the callbacks M-Pesa would post (duplicated, delayed, reordered, dropped) as `Mail`
that the simulation delivers through the app's own routes. Forgeries are mail too, marked as such:
they moved no money in the world, so they must move none in the books.
"""
import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone

from escrow.ports import GatewayError, PaymentRequested, PaymentStatus, PayoutRequested
try:
    from escrow.ports import ReversalRequested
except ImportError:  # before the money-in checks became a port of their own
    from escrow.reversals import ReversalRequested
from escrow.statement.runs import StatementEntry
from mpesa import simulator_scenarios as daraja

SHORTCODE = "174379"   # the paybill (and STK shortcode) the World's money arrives on


class WorkerKilled(BaseException):
    """The worker process died here (a BaseException, so no `except Exception` in the worker
    turns it into a tidy retry: the outbox lease is left to expire, as after a real kill)."""


@dataclass
class Mail:
    """One POST M-Pesa (or a forger) makes to us."""
    due: int                  # the world tick it arrives at
    path: str                 # the URL path we are called at: /hooks/stk/<token>, ...
    body: bytes
    what: str                 # "stk", "stk-forged", "b2c-result", "c2b", "c2b-forged", ...
    forged: bool = False
    resend_on_error: bool = False


@dataclass
class Push:
    checkout_id: str
    merchant_id: str
    phone: str
    amount: int
    reference: str
    fate: str                 # paid, declined, unanswered
    receipt: str | None = None


@dataclass
class Transfer:
    originator_id: str
    conversation_id: str
    phone: str
    amount: int
    fate: str                 # paid, failed
    receipt: str


@dataclass
class Take:
    """Money M-Pesa took from a buyer for us."""
    receipt: str
    amount: int
    reference: str
    channel: str              # stk, paybill
    checkout_id: str | None = None
    at: datetime | None = None          # naive UTC, for the statement
    reversed: bool = False

@dataclass
class Tallies:
    counts: dict = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


class World:
    """M-Pesa as the simulation sees it. Probabilities are per call; every choice uses `rng`."""

    def __init__(self, rng: random.Random, token: str, *, faults: bool = True):
        self.rng, self.token, self.faults = rng, token, faults
        self.tick = 0
        self.pushes: dict[str, Push] = {}
        self.transfers: dict[str, Transfer] = {}
        self.takes: dict[str, Take] = {}           # receipt -> money in
        self.mailbox: list[Mail] = []
        self.forged_receipts: set[str] = set()
        self.reversed: dict[str, Take] = {}        # TransID -> the payment M-Pesa gave back to its payer
        self.c2b_shortcode = SHORTCODE
        self.kill_next: str | None = None          # "stk" or "b2c": die after M-Pesa took the request
        self.tally = Tallies()
        self._ids = itertools.count(1)

    # --- the PaymentGateway port ---------------------------------------------------------------
    def request_payment(self, *, phone: str, amount: int, reference: str, description: str,
                        attempt_id: int | None = None, **extra) -> PaymentRequested:
        self.tally.add("stk pushes requested")
        if self.faults and self.rng.random() < 0.03:
            self.tally.add("stk push refused before sending (retryable)")
            raise GatewayError("connection refused (injected): nothing sent", retryable=True)
        number = next(self._ids)
        push = Push(f"ws_CO_SIM{number:07d}", f"SIM-{number}", phone, amount, reference,
                    self.rng.choices(("paid", "declined", "unanswered"), (80, 12, 8))[0])
        self.pushes[push.checkout_id] = push
        if push.fate == "paid":
            push.receipt = self._receipt("S")
            self.takes[push.receipt] = Take(push.receipt, amount, reference, "stk", push.checkout_id, _now())
            self.tally.add("stk payments taken")
        if push.fate != "unanswered":
            # the CallBackURL names our attempt (mpesa/gateway.py stk_callback_url), as Daraja echoes it
            path = self._hook("stk") + (f"/a{int(attempt_id)}" if attempt_id is not None else "")
            self._send(self._stk_body(push), path, "stk")
        self._maybe_die("stk", "after Daraja accepted the STK push")
        if self.faults and self.rng.random() < 0.02:
            self.tally.add("stk push answer lost (ambiguous)")
            raise GatewayError("read timeout (injected) after the request left", ambiguous=True, retryable=False)
        return PaymentRequested(checkout_id=push.checkout_id, merchant_request_id=push.merchant_id)

    def query_payment(self, checkout_id: str, **extra) -> PaymentStatus:
        self.tally.add("stk queries")
        push = self.pushes.get(checkout_id)
        if push is None:
            raise GatewayError("400.002.02 Invalid CheckoutRequestID", retryable=False)
        if self.faults and self.rng.random() < 0.1:
            return PaymentStatus(pending=True, result_code=None, description="The transaction is being processed")
        if push.fate == "paid":
            return PaymentStatus(pending=False, result_code="0", description="paid")
        code = "1032" if push.fate == "declined" else "1037"
        return PaymentStatus(pending=False, result_code=code, description="not paid")

    def send_payout(self, *, originator_id: str, phone: str, amount: int, remarks: str, **extra) -> PayoutRequested:
        self.tally.add("b2c requests")
        if originator_id in self.transfers:  # Daraja refuses a repeated originator id
            self.tally.add("b2c repeats refused")
            raise GatewayError("500.002.1001 Duplicate OriginatorConversationID", ambiguous=True, retryable=False)
        if self.faults and self.rng.random() < 0.03:
            self.tally.add("b2c refused before sending (retryable)")
            raise GatewayError("connection refused (injected): nothing sent", retryable=True)
        fate = self.rng.choices(("paid", "failed"), (90, 10))[0] if self.faults else "paid"
        transfer = Transfer(originator_id, f"AG_SIM_{next(self._ids):07d}", phone, amount, fate, self._receipt("B"))
        self.transfers[originator_id] = transfer
        if fate == "paid":
            self.tally.add("b2c paid")
        result = daraja.b2c_result(self._payout_dict(transfer))
        if self.faults and self.rng.random() < 0.08:
            self._send(daraja.b2c_queue_timeout(self._payout_dict(transfer)),
                       self._answer_path("b2c/timeout", extra), "b2c-timeout")
        self._send(result, self._answer_path("b2c/result", extra), "b2c-result")
        self._maybe_die("b2c", "after Daraja accepted the B2C request")
        return PayoutRequested(conversation_id=transfer.conversation_id)

    def query_payout(self, *, originator_id: str, **extra) -> None:
        self.tally.add("b2c status queries")
        transfer = self.transfers.get(originator_id)
        query = {"originator_conversation_id": f"STQ{next(self._ids)}", "conversation_id": f"AG_STQ{next(self._ids)}",
                 "transaction_id": "OAK0000000"}
        payout = None
        if transfer is not None:
            payout = {**self._payout_dict(transfer), "party_a": "600000",
                      "status": "Completed" if transfer.fate == "paid" else "Failed"}
        body = daraja.transaction_status_result(query, payout)
        # the result names the transfer asked about by its originator id, as Daraja's does
        body["Result"]["OriginatorConversationID"] = originator_id
        self._send(body, self._answer_path("b2c/status", extra), "b2c-status")

    # --- checks on money in, reversals, the statement (issue 11 #3, issue 12) ---------------------
    def query_paybill_payment(self, *, trans_id: str, reply_to: str, **extra) -> None:
        """Transaction Status on a paybill TransID; the answer goes to the signed reply URL."""
        self.tally.add("paybill status queries")
        take = self.takes.get(trans_id)
        query = {"originator_conversation_id": f"PSQ{next(self._ids)}", "conversation_id": f"AG_PSQ{next(self._ids)}",
                 "transaction_id": f"Q{next(self._ids):09d}"}
        result = {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
                  "OriginatorConversationID": query["originator_conversation_id"],
                  "ConversationID": query["conversation_id"], "TransactionID": query["transaction_id"]}
        if take is None or take.channel != "paybill":
            result.update(ResultCode="R000001", ResultDesc="The transaction does not exist")
        else:
            result["ResultParameters"] = {"ResultParameter": [
                {"Key": "TransactionStatus", "Value": "Reversed" if take.reversed else "Completed"},
                {"Key": "Amount", "Value": float(take.amount)}, {"Key": "ReceiptNo", "Value": take.receipt},
                {"Key": "ReasonType", "Value": "Pay Bill Online"}]}
        self._send({"Result": result}, f"{self._hook('c2b/status')}/{reply_to}", "paybill-status")

    def reverse_payment(self, *, trans_id: str, amount: int, reply_to: str, **extra) -> ReversalRequested:
        self.tally.add("reversals requested")
        take = self.takes.get(trans_id)
        ok = take is not None and not take.reversed and take.amount == amount
        if ok:
            take.reversed = True
            self.reversed[trans_id] = take
            self.tally.add("reversals made")
        ids = (f"REV{next(self._ids)}", f"AG_REV{next(self._ids)}")
        result = {"ResultType": 0, "ResultCode": 0 if ok else "R000002",
                  "ResultDesc": "The service request is processed successfully." if ok else "Reversal refused",
                  "OriginatorConversationID": ids[0], "ConversationID": ids[1],
                  "TransactionID": self._receipt("R") if ok else ""}
        self._send({"Result": result}, f"{self._hook('reversal/result')}/{reply_to}", "reversal-result")
        self._maybe_die("b2c", "after Daraja accepted the reversal")
        return ReversalRequested(conversation_id=ids[1], originator_conversation_id=ids[0])

    def query_reversal(self, *, trans_id: str, reply_to: str, **extra) -> None:
        take = self.takes.get(trans_id)
        result = {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok", "OriginatorConversationID": "RSQ",
                  "ConversationID": f"AG_RSQ{next(self._ids)}", "TransactionID": "OAK0000000",
                  "ResultParameters": {"ResultParameter": [
                      {"Key": "TransactionStatus", "Value": "Reversed" if take and take.reversed else "Completed"},
                      {"Key": "ReceiptNo", "Value": trans_id}]}}
        self._send({"Result": result}, f"{self._hook('reversal/status')}/{reply_to}", "reversal-status")

    def statement_shortcodes(self) -> dict[str, tuple[str, ...]]:
        return {SHORTCODE: ("stk", "paybill")}

    def fetch_statement(self, *, shortcode: str, start, end, **extra) -> list[StatementEntry]:
        """Every payment M-Pesa took on the shortcode in [start, end]: the truth, forgeries absent."""
        self.tally.add("statements fetched")
        return [StatementEntry(shortcode=shortcode, receipt=t.receipt, at=t.at,
                               kind="CustomerPayBillOnline",
                               amount=t.amount, account=t.reference, party="2547******123")
                for t in self.takes.values() if t.at is not None and start <= t.at <= end]

    def balance_shortcodes(self) -> dict[str, str]:
        return {}

    def query_balance(self, shortcode: str) -> None:
        return None

    # --- buyers paying by paybill, and forgers ---------------------------------------------------
    def pay_by_paybill(self, reference: str, amount: int, shortcode: str) -> str:
        receipt = self._receipt("C")
        self.takes[receipt] = Take(receipt, amount, reference, "paybill", None, _now())
        self.tally.add("paybill payments taken")
        self._send(daraja.c2b_body(self._c2b_dict(receipt, amount, reference, shortcode), confirmation=True),
                   self._hook("c2b/confirmation"), "c2b", drop=False)
        return receipt

    def forge_stk_success(self, checkout_id: str, amount: int) -> None:
        """A well-formed success nobody paid: for a push that was declined or unanswered, or for no push."""
        receipt = self._receipt("F")
        self.forged_receipts.add(receipt)
        fake = Push(checkout_id, "FORGED", "254700000000", amount, "", "paid", receipt)
        self._post_now(self._stk_body(fake), self._hook("stk"), "stk-forged")

    def forge_paybill(self, reference: str, amount: int, shortcode: str) -> None:
        """A C2B confirmation with a fresh TransID M-Pesa never issued."""
        receipt = self._receipt("G")
        self.forged_receipts.add(receipt)
        self._post_now(daraja.c2b_body(self._c2b_dict(receipt, amount, reference, shortcode), confirmation=True),
                       self._hook("c2b/confirmation"), "c2b-forged")

    def forge_payout_success(self, originator_id: str, amount: int) -> None:
        """A B2C success for a transfer M-Pesa never made (or made for another amount)."""
        fake = Transfer(originator_id, f"AG_FORGED_{next(self._ids)}", "254700000000", amount, "paid",
                        self._receipt("H"))
        self._post_now(daraja.b2c_result(self._payout_dict(fake)), self._hook("b2c/result"), "b2c-forged")

    # --- truth for the checks -------------------------------------------------------------------
    def paid_out(self) -> list[Transfer]:
        return [t for t in self.transfers.values() if t.fate == "paid"]

    def due_mail(self, everything: bool = False) -> list[Mail]:
        """Mail due by now, in a seeded order (reordering within and across ticks)."""
        due = [m for m in self.mailbox if everything or m.due <= self.tick]
        self.mailbox = [m for m in self.mailbox if m not in due]
        self.rng.shuffle(due)
        return due

    # --- inside the world -------------------------------------------------------------------------
    def _send(self, body: dict, path: str, what: str, *, drop: bool = True) -> None:
        """Queue a genuine callback: maybe dropped, maybe delayed, maybe sent two or three times."""
        if drop and self.faults and self.rng.random() < 0.10:
            self.tally.add(f"{what} dropped")
            return
        copies = self.rng.choices((1, 2, 3), (80, 15, 5))[0] if self.faults else 1
        raw = json.dumps(body).encode()
        for _ in range(copies):
            delay = self.rng.choice((0, 0, 1, 2, 4)) if self.faults else 0
            self.mailbox.append(Mail(self.tick + delay, path, raw, what, resend_on_error=not drop))
        self.tally.add(f"{what} sent", copies)

    def _post_now(self, body: dict, path: str, what: str) -> None:
        self.mailbox.append(Mail(self.tick, path, json.dumps(body).encode(), what, forged=True))
        self.tally.add(f"{what} sent")

    def _hook(self, route: str) -> str:
        return f"/hooks/{route}/{self.token}"

    def _answer_path(self, route: str, extra: dict) -> str:
        """The URL our request named: ending in its reply tag when the port passes one."""
        reply_to = extra.get("reply_to")
        return f"{self._hook(route)}/{reply_to}" if reply_to else self._hook(route)

    def _maybe_die(self, kind: str, where: str) -> None:
        if self.kill_next == kind:
            self.kill_next = None
            self.tally.add(f"worker killed {where}")
            raise WorkerKilled(where)

    def _receipt(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):09d}"[:10]

    def _stk_body(self, push: Push) -> dict:
        paid = push.fate == "paid"
        tx = {"merchant_request_id": push.merchant_id, "checkout_request_id": push.checkout_id,
              "result_code": 0 if paid else (1032 if push.fate == "declined" else 1037),
              "result_desc": "The service request is processed successfully." if paid else "Request cancelled by user",
              "amount": push.amount, "receipt": push.receipt, "phone": push.phone,
              "transaction_date": datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")}
        return daraja.stk_callback(tx)

    @staticmethod
    def _payout_dict(transfer: Transfer) -> dict:
        paid = transfer.fate == "paid"
        return {"originator_conversation_id": transfer.originator_id, "conversation_id": transfer.conversation_id,
                "result_code": 0 if paid else 1, "amount": transfer.amount, "phone": transfer.phone,
                "result_desc": "The service request is processed successfully." if paid
                else "The balance is insufficient for the transaction.",
                "receipt": transfer.receipt, "completed_at": datetime.now(timezone.utc)}

    @staticmethod
    def _c2b_dict(receipt: str, amount: int, reference: str, shortcode: str) -> dict:
        return {"transaction_type": "Pay Bill", "trans_id": receipt,
                "trans_time": datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S"), "amount": amount,
                "shortcode": shortcode, "bill_ref_number": reference, "balance": 0, "msisdn": "2547 ***  123"}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
