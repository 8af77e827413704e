"""The core's PaymentGateway, implemented with the Daraja client."""
from escrow.phone import normalize_msisdn
from escrow.ports import GatewayError, PaymentRequested, PaymentStatus, PayoutRequested
from escrow.ports import ReversalRequested
from mpesa.daraja import DarajaClient
from mpesa.errors import DarajaError, DarajaInvalidRequest, DarajaRejected, DarajaTimeout, DarajaUnreachable

# Daraja answers that mean "this exact request was already received": the earlier one may
# have moved money, so the transfer is unknown, never failed.
ALREADY_RECEIVED = {"500.002.1001"}


class DarajaPaymentGateway:
    def __init__(self, client: DarajaClient, *, public_base_url: str, callback_token: str):
        self.client = client
        self.base = public_base_url.rstrip("/")
        self.token = callback_token

    def url(self, path: str) -> str:
        return f"{self.base}/hooks/{path}/{self.token}"

    def stk_callback_url(self, attempt_id: int | None) -> str:
        """Our own attempt id in the path (`/a<id>`: no filtered word, digits only), so the callback
        finds its attempt even when Daraja's answer to the push was never recorded."""
        return self.url("stk") + (f"/a{int(attempt_id)}" if attempt_id is not None else "")

    def request_payment(self, *, phone: str, amount: int, reference: str, description: str,
                        attempt_id: int | None = None) -> PaymentRequested:
        with translated_errors():
            accepted = self.client.stk_push(phone=_msisdn(phone), amount=amount, account_reference=reference,
                                            description=description, callback_url=self.stk_callback_url(attempt_id))
        return PaymentRequested(checkout_id=accepted.checkout_request_id,
                                merchant_request_id=accepted.merchant_request_id)

    def query_payment(self, checkout_id: str) -> PaymentStatus:
        with translated_errors():
            result = self.client.stk_query(checkout_id)
        return PaymentStatus(pending=result.pending, result_code=result.result_code, description=result.result_desc)

    def send_payout(self, *, originator_id: str, phone: str, amount: int, remarks: str,
                    reply_to: str | None = None) -> PayoutRequested:
        """`reply_to` (`<transfer id>/<tag>`, escrow.payouts.transfer_reply) ends both answer URLs:
        only an answer there is believed (mpesa/routes.py)."""
        with translated_errors():
            accepted = self.client.b2c_payment(originator_conversation_id=originator_id, phone=_msisdn(phone),
                                               amount=amount, remarks=remarks, occasion="Escrow release",
                                               result_url=self._answer_url("b2c/result", reply_to),
                                               timeout_url=self._answer_url("b2c/timeout", reply_to))
        return PayoutRequested(conversation_id=accepted.conversation_id)

    def query_payout(self, *, originator_id: str, reply_to: str | None = None) -> None:
        with translated_errors():
            self.client.transaction_status(originator_conversation_id=originator_id,
                                           result_url=self._answer_url("b2c/status", reply_to),
                                           timeout_url=self._answer_url("b2c/timeout", reply_to))

    def _answer_url(self, path: str, reply_to: str | None) -> str:
        return self.reply_url(path, reply_to) if reply_to else self.url(path)


    # --- C2B (paybill), appended by the M-Pesa helper ---------------------------------------
    @property
    def c2b_shortcode(self) -> str:
        """The paybill/till C2B payments arrive on (MPESA_C2B_SHORTCODE, else the STK shortcode or till)."""
        return self.client._c2b_shortcode()

    def c2b_urls(self) -> tuple[str, str]:
        """(validation URL, confirmation URL) under PUBLIC_BASE_URL."""
        return self.url("c2b/validation"), self.url("c2b/confirmation")

    def register_c2b_urls(self, *, response_type: str = "Completed", version: str = "v1"):
        validation, confirmation = self.c2b_urls()
        return self.client.register_c2b_urls(confirmation_url=confirmation, validation_url=validation,
                                             response_type=response_type, version=version)

    # --- the statement (Pull Transactions), appended for issue 12: see mpesa/statement.py ----
    def statement_shortcodes(self) -> dict[str, tuple[str, ...]]:
        from mpesa.statement import shortcodes_of
        return shortcodes_of(self.client)

    def fetch_statement(self, *, shortcode: str, start, end):
        from mpesa.statement import PullTransactions
        with translated_errors():
            return PullTransactions(self.client).fetch(shortcode=shortcode, start=start, end=end)

    def balance_shortcodes(self) -> dict[str, str]:
        """{shortcode: 'b2c' or 'paybill'}: the float we pay from, and where money arrives."""
        codes = {code: "paybill" for code in self.statement_shortcodes()}
        return {**codes, self.client._config.b2c_shortcode: "b2c"} if self.client._config.b2c_shortcode else codes

    def query_balance(self, shortcode: str, reply_to: str | None = None) -> None:
        """`reply_to` (`<shortcode>/<tag>`, escrow.statement.balances.balance_reply_tag): the tag ends both URLs."""
        from mpesa.balance import query_balance
        tag = f"/{reply_to.split('/', 1)[1]}" if reply_to else ""
        with translated_errors():
            query_balance(self.client, shortcode=shortcode,
                          result_url=f"{self.url('balance/result')}/s{shortcode}{tag}",
                          timeout_url=f"{self.url('balance/timeout')}/s{shortcode}{tag}")

    # --- checks on money in, and Reversal (issue 11 #3) -----------------------------------------
    def reply_url(self, path: str, reply_to: str) -> str:
        """A result URL naming what it answers: /hooks/<path>/<token>/<id>/<tag> (escrow.reversals)."""
        return f"{self.url(path)}/{reply_to}"

    def query_paybill_payment(self, *, trans_id: str, reply_to: str) -> None:
        with translated_errors():
            self.client.paybill_status(trans_id=trans_id, result_url=self.reply_url("c2b/status", reply_to),
                                       timeout_url=self.reply_url("c2b/status-timeout", reply_to))

    def reverse_payment(self, *, trans_id: str, amount: int, reply_to: str) -> ReversalRequested:
        try:
            with translated_errors():
                accepted = self.client.reversal(trans_id=trans_id, amount=amount,
                                                result_url=self.reply_url("reversal/result", reply_to),
                                                timeout_url=self.reply_url("reversal/timeout", reply_to))
        except ValueError as error:  # refused before anything was sent: settings or values
            raise GatewayError(f"reversal not sent: {error}", retryable=False) from error
        return ReversalRequested(conversation_id=accepted.conversation_id,
                                 originator_conversation_id=accepted.originator_conversation_id)

    def query_reversal(self, *, trans_id: str, reply_to: str) -> None:
        """Transaction Status on the reversed payment's TransID: 'Reversed' settles the reversal."""
        with translated_errors():
            self.client.paybill_status(trans_id=trans_id, result_url=self.reply_url("reversal/status", reply_to),
                                       timeout_url=self.reply_url("reversal/timeout", reply_to),
                                       remarks="Reversal check")


def _msisdn(phone: str) -> str:
    try:
        return normalize_msisdn(phone)
    except ValueError as error:
        raise DarajaInvalidRequest(f"request not sent: {error}") from error


class translated_errors:
    """Daraja's errors in the core's terms: ambiguous (may have reached M-Pesa), retryable, or final."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _traceback):
        if error is None or not isinstance(error, DarajaError):
            return False
        raise _as_gateway_error(error) from error


def _as_gateway_error(error: DarajaError) -> GatewayError:
    """Not sent (unbuildable: final; no token or no connection: retry later), or ambiguous (it may
    have reached M-Pesa), or Daraja's own refusal."""
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, DarajaInvalidRequest):
        return GatewayError(message, retryable=False)
    if isinstance(error, DarajaTimeout) or getattr(error, "error_code", None) in ALREADY_RECEIVED:
        return GatewayError(message, ambiguous=True, retryable=False)
    if isinstance(error, DarajaUnreachable):  # DarajaNotSent included: nothing left
        return GatewayError(message, retryable=True)
    if isinstance(error, DarajaRejected):
        status = getattr(error, "http_status", None) or 0
        return GatewayError(message, retryable=status >= 500 or status == 429)
    return GatewayError(message, retryable=False)
