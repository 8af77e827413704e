"""In-memory fakes of the core's own ports (PaymentGateway, SmsSender)."""
import itertools

from escrow.ports import GatewayError, PaymentRequested, PaymentStatus, PayoutRequested, SmsReceipt


class FakePaymentGateway:
    def __init__(self):
        self.pushes, self.payouts, self.payout_queries, self.payout_query_replies = [], [], [], []
        self.fail_next: GatewayError | None = None
        self._ids = itertools.count(1)

    def _maybe_fail(self):
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error

    def request_payment(self, *, phone, amount, reference, description, attempt_id=None):
        self._maybe_fail()
        number = next(self._ids)
        self.pushes.append(dict(phone=phone, amount=amount, reference=reference, checkout_id=f"ws_CO_{number}"))
        return PaymentRequested(checkout_id=f"ws_CO_{number}", merchant_request_id=f"m-{number}")

    def query_payment(self, checkout_id):
        return PaymentStatus(pending=True, result_code=None, description="being processed")

    def send_payout(self, *, originator_id, phone, amount, remarks, reply_to=None):
        self._maybe_fail()
        self.payouts.append(dict(originator_id=originator_id, phone=phone, amount=amount, reply_to=reply_to))
        return PayoutRequested(conversation_id=f"AG_{next(self._ids)}")

    def query_payout(self, *, originator_id, reply_to=None):
        self.payout_queries.append(originator_id)
        self.payout_query_replies.append(reply_to)


class FakeSmsSender:
    _ids = itertools.count(1)

    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def send(self, phone, text):
        self.sent.append((phone, text))
        return SmsReceipt(accepted=True, retryable=False, message_id=f"fake-{next(self._ids)}", status="Success")

    def texts_to(self, phone_fragment: str) -> list[str]:
        return [text for phone, text in self.sent if phone.endswith(phone_fragment[-9:])]
