"""The Daraja HTTP client: OAuth, STK Push and Query, B2C, Transaction Status, C2B.

Nothing here is retried automatically except one re-send after Daraja refused our access token
(it refused before processing, so that is safe). A read timeout on a money-moving call raises
DarajaTimeout: the caller resolves it with a status query, never by sending again.

What failed before any byte of a request left is told apart from what failed after: a request we
could not build raises DarajaInvalidRequest, no access token (OAuth down or timing out, its Redis
store down) DarajaNotSent, a refused connection DarajaUnreachable: all three surely not received.
"""
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, ContextManager, Protocol

import requests
import urllib3.exceptions

from escrow.phone import mask, normalize_msisdn
from mpesa.errors import (DarajaAuthError, DarajaError, DarajaInvalidRequest, DarajaNotSent, DarajaRejected,
                          DarajaTimeout, DarajaUnreachable)
from mpesa.fields import (eat_timestamp, refuse_bad_urls, sanitize_account_reference, sanitize_description,
                          stk_password, whole_amount, customer_msisdn)
from mpesa.results import (B2cAccepted, C2bAccepted, StatusAccepted, StkPushAccepted,
                           StkQueryResult)

log = logging.getLogger(__name__)

TOKEN_ERROR_CODES = frozenset({"404.001.03", "400.003.01", "401.002.01"})
NO_API_PRODUCT = "401.003.01"
BUSY_CODE = "500.001.1001"


@dataclass(frozen=True)
class DarajaConfig:
    base_url: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    shortcode: str
    passkey: str = field(repr=False)
    transaction_type: str = "CustomerPayBillOnline"
    till_number: str | None = None
    b2c_shortcode: str | None = None
    initiator_name: str | None = None
    security_credential: str | None = field(default=None, repr=False)
    connect_timeout: float = 3.05
    read_timeout: float = 20.0
    stk_query_version: str = "v1"
    c2b_shortcode: str | None = None
    c2b_initiator_name: str | None = None             # allowed on the paybill (status, reversal)
    c2b_security_credential: str | None = field(default=None, repr=False)


class TokenStore(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl_seconds: int) -> None: ...
    def discard(self, key: str, value: str) -> None: ...
    def lock(self, key: str, timeout_seconds: float) -> ContextManager[bool]: ...


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _token_ttl(expires_in) -> int:
    """Refresh five minutes early; short-lived tokens (tests) are kept for half their life."""
    seconds = int(expires_in)
    return seconds - 300 if seconds > 600 else max(1, seconds // 2)


class DarajaClient:
    """One Daraja app (consumer key) against one base URL."""

    def __init__(self, config: DarajaConfig, token_store: TokenStore,
                 http: requests.Session | None = None,
                 now: Callable[[], datetime] = _utcnow):
        self._config = config
        self._store = token_store
        self._http = http or requests.Session()
        self._now = now
        digest = hashlib.sha256(config.consumer_key.encode()).hexdigest()[:24]
        self._token_key = f"token:{digest}"

    # -- access token ------------------------------------------------------------------------

    def access_token(self) -> str:
        """The shared cached token; fetched once (single-flight) when missing."""
        token = self._store.get(self._token_key)
        if token:
            return token
        lock_seconds = self._config.connect_timeout + self._config.read_timeout + 1
        with self._store.lock(self._token_key, lock_seconds):
            token = self._store.get(self._token_key)
            if not token:
                token, ttl = self._fetch_token()
                self._store.set(self._token_key, token, ttl)
            return token

    def invalidate_token(self, token: str) -> None:
        """Forget `token` (only if it is still the cached one)."""
        self._store.discard(self._token_key, token)

    def _fetch_token(self) -> tuple[str, int]:
        response = self._send("GET", "/oauth/v1/generate",
                              params={"grant_type": "client_credentials"},
                              auth=(self._config.consumer_key, self._config.consumer_secret))
        try:
            body = self._answer(response)
            return str(body["access_token"]), _token_ttl(body.get("expires_in", 3599))
        except DarajaRejected as exc:
            raise DarajaAuthError(exc.message, http_status=exc.http_status,
                                  error_code=exc.error_code, request_id=exc.request_id) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise DarajaAuthError(f"unusable OAuth answer: {exc.__class__.__name__}",
                                  http_status=response.status_code) from exc

    # -- M-Pesa Express (STK) ----------------------------------------------------------------

    def stk_push(self, *, phone: str, amount: int, account_reference: str, description: str,
                 callback_url: str) -> StkPushAccepted:
        """Ask the customer's phone for their PIN. Acceptance is not payment: await the callback."""
        with _building():
            refuse_bad_urls(callback_url=callback_url)
            msisdn = customer_msisdn(phone)
            cfg = self._config
            payload = {**self._stk_credentials(), "TransactionType": cfg.transaction_type,
                       "Amount": whole_amount(amount), "PartyA": msisdn,
                       "PartyB": cfg.till_number if self._is_till() else cfg.shortcode,
                       "PhoneNumber": msisdn, "CallBackURL": callback_url,
                       "AccountReference": sanitize_account_reference(account_reference),
                       "TransactionDesc": sanitize_description(description)}
        log.info("STK push: KES %d from %s", amount, mask(msisdn))
        body = self._accepted(self._call("/mpesa/stkpush/v1/processrequest", payload))
        with _reading_acceptance():
            return StkPushAccepted(
                merchant_request_id=str(body.get("MerchantRequestID", "")),
                checkout_request_id=str(body["CheckoutRequestID"]),
                response_code=str(body["ResponseCode"]),
                customer_message=str(body.get("CustomerMessage", "")))

    def stk_query(self, checkout_request_id: str) -> StkQueryResult:
        """The STK result as M-Pesa knows it; pending=True while the customer has not acted."""
        payload = {**self._stk_credentials(), "CheckoutRequestID": checkout_request_id}
        path = f"/mpesa/stkpushquery/{self._config.stk_query_version}/query"
        try:
            body = self._call(path, payload)
        except DarajaRejected as exc:
            if exc.error_code == BUSY_CODE and "being processed" in (exc.message or "").lower():
                return StkQueryResult(checkout_request_id, True, None, exc.message)
            raise
        return StkQueryResult(checkout_request_id=checkout_request_id, pending=False,
                              result_code=str(body["ResultCode"]),
                              result_desc=str(body.get("ResultDesc", "")))

    def _stk_credentials(self) -> dict:
        timestamp = eat_timestamp(self._now())
        return {"BusinessShortCode": self._config.shortcode, "Timestamp": timestamp,
                "Password": stk_password(self._config.shortcode, self._config.passkey, timestamp)}

    def _is_till(self) -> bool:
        return self._config.transaction_type == "CustomerBuyGoodsOnline"

    # -- B2C and Transaction Status ----------------------------------------------------------

    def b2c_payment(self, *, originator_conversation_id: str, phone: str, amount: int,
                    remarks: str, occasion: str, result_url: str, timeout_url: str,
                    command_id: str = "BusinessPayment") -> B2cAccepted:
        """Send money to a customer. Never re-sent here: resolve doubt with transaction_status."""
        with _building():
            refuse_bad_urls(result_url=result_url, timeout_url=timeout_url)
            msisdn = customer_msisdn(phone)
            payload = {**self._initiator(), "OriginatorConversationID": originator_conversation_id,
                       "CommandID": command_id, "Amount": whole_amount(amount),
                       "PartyA": self._config.b2c_shortcode, "PartyB": msisdn,
                       "Remarks": self._remarks(remarks), "QueueTimeOutURL": timeout_url,
                       "ResultURL": result_url}
            if occasion:
                payload["Occassion"] = str(occasion)[:100]
        log.info("B2C %s: KES %d to %s", originator_conversation_id, amount, mask(msisdn))
        body = self._accepted(self._call("/mpesa/b2c/v3/paymentrequest", payload))
        with _reading_acceptance():
            return self._b2c_accepted(body, originator_conversation_id)

    @staticmethod
    def _b2c_accepted(body: dict, originator_conversation_id: str) -> B2cAccepted:
        return B2cAccepted(
            conversation_id=str(body["ConversationID"]),
            originator_conversation_id=str(_originator_id(body) or originator_conversation_id),
            response_code=str(body["ResponseCode"]),
            response_description=str(body.get("ResponseDescription", "")))

    def transaction_status(self, *, result_url: str, timeout_url: str,
                           originator_conversation_id: str | None = None,
                           transaction_id: str | None = None, remarks: str = "Status check",
                           occasion: str = "status") -> StatusAccepted:
        """Ask M-Pesa for a transaction's fate; the answer is POSTed to result_url."""
        if not (originator_conversation_id or transaction_id):
            raise ValueError("give originator_conversation_id or transaction_id")
        refuse_bad_urls(result_url=result_url, timeout_url=timeout_url)
        initiator = self._initiator()
        payload = {"Initiator": initiator["InitiatorName"],
                   "SecurityCredential": initiator["SecurityCredential"],
                   "CommandID": "TransactionStatusQuery", "PartyA": self._config.b2c_shortcode,
                   "IdentifierType": "4", "ResultURL": result_url, "QueueTimeOutURL": timeout_url,
                   "Remarks": self._remarks(remarks), "Occasion": str(occasion or "")[:100]}
        if transaction_id:
            payload["TransactionID"] = transaction_id
        if originator_conversation_id:
            payload["OriginalConversationID"] = originator_conversation_id
        body = self._accepted(self._call("/mpesa/transactionstatus/v1/query", payload))
        return StatusAccepted(conversation_id=str(body.get("ConversationID", "")),
                              originator_conversation_id=str(_originator_id(body) or ""),
                              response_code=str(body["ResponseCode"]))

    def _initiator(self) -> dict:
        cfg = self._config
        if not (cfg.b2c_shortcode and cfg.initiator_name and cfg.security_credential):
            raise ValueError("b2c_shortcode, initiator_name and security_credential are required")
        return {"InitiatorName": cfg.initiator_name, "SecurityCredential": cfg.security_credential}

    @staticmethod
    def _remarks(text: str) -> str:
        remarks = str(text or "").strip()[:100]
        if len(remarks) < 2:
            raise ValueError("remarks must be 2 to 100 characters")
        return remarks

    # -- C2B -----------------------------------------------------------------------------------

    def register_c2b_urls(self, *, confirmation_url: str, validation_url: str,
                          response_type: str = "Completed", version: str = "v1") -> C2bAccepted:
        """Tell Daraja where to POST paybill/till payments (one-time in production)."""
        refuse_bad_urls(confirmation_url=confirmation_url, validation_url=validation_url)
        payload = {"ShortCode": self._c2b_shortcode(), "ResponseType": response_type,
                   "ConfirmationURL": confirmation_url, "ValidationURL": validation_url}
        return _c2b_accepted(self._accepted(self._call(f"/mpesa/c2b/{version}/registerurl", payload)))

    def c2b_simulate(self, *, amount: int, msisdn: str, bill_ref_number: str | None,
                     version: str = "v1") -> C2bAccepted:
        """Sandbox/simulator only: pretend a customer paid the paybill or till."""
        payload = {"ShortCode": self._c2b_shortcode(), "Amount": whole_amount(amount),
                   "CommandID": self._config.transaction_type,
                   "Msisdn": normalize_msisdn(msisdn),
                   "BillRefNumber": None if self._is_till() else bill_ref_number}
        return _c2b_accepted(self._accepted(self._call(f"/mpesa/c2b/{version}/simulate", payload)))

    def _c2b_shortcode(self) -> str:
        cfg = self._config
        return cfg.c2b_shortcode or (cfg.till_number if self._is_till() else cfg.shortcode)

    # -- checks on money in, and Reversal (issue 11 #3) ------------------------------------------

    def paybill_status(self, *, trans_id: str, result_url: str, timeout_url: str,
                       remarks: str = "Paybill check") -> StatusAccepted:
        """Transaction Status of a payment INTO our paybill: PartyA is the paybill (IdentifierType
        4) and the initiator one allowed on it. The answer is POSTed to result_url."""
        refuse_bad_urls(result_url=result_url, timeout_url=timeout_url)
        payload = {**self._paybill_initiator(), "CommandID": "TransactionStatusQuery",
                   "TransactionID": str(trans_id), "PartyA": self._c2b_shortcode(), "IdentifierType": "4",
                   "ResultURL": result_url, "QueueTimeOutURL": timeout_url,
                   "Remarks": self._remarks(remarks), "Occasion": "paybill"}
        return _status_accepted(self._accepted(self._call("/mpesa/transactionstatus/v1/query", payload)))

    def reversal(self, *, trans_id: str, amount: int, result_url: str, timeout_url: str,
                 remarks: str = "Payment returned") -> StatusAccepted:
        """Reverse a payment into our paybill, back to whoever paid. Money out: never re-sent here."""
        refuse_bad_urls(result_url=result_url, timeout_url=timeout_url)
        payload = {**self._paybill_initiator(), "CommandID": "TransactionReversal",
                   "TransactionID": str(trans_id), "Amount": str(whole_amount(amount)),
                   "ReceiverParty": self._c2b_shortcode(), "RecieverIdentifierType": "11",
                   "ResultURL": result_url, "QueueTimeOutURL": timeout_url, "Remarks": self._remarks(remarks)}
        log.info("reversal of %s: KES %d", trans_id, amount)
        return _status_accepted(self._accepted(self._call("/mpesa/reversal/v1/request", payload)))

    def _paybill_initiator(self) -> dict:
        """MPESA_C2B_INITIATOR_NAME / MPESA_C2B_SECURITY_CREDENTIAL, else the B2C initiator's."""
        cfg = self._config
        name = cfg.c2b_initiator_name or cfg.initiator_name
        credential = cfg.c2b_security_credential or cfg.security_credential
        if not (name and credential):
            raise ValueError("an initiator allowed on the paybill is required (MPESA_C2B_INITIATOR_NAME)")
        return {"Initiator": name, "SecurityCredential": credential}

    # -- transport -----------------------------------------------------------------------------

    def _call(self, path: str, payload: dict) -> dict:
        """POST with the cached token; once more with a fresh one if Daraja refused the token."""
        token = self._token_before_sending(path)
        try:
            return self._answer(self._post(path, payload, token))
        except DarajaAuthError as exc:
            log.warning("Daraja refused the access token on %s (%s); refreshing once", path,
                        exc.error_code or exc.http_status)
            self.invalidate_token(token)
        return self._answer(self._post(path, payload, self._token_before_sending(path)))

    def _token_before_sending(self, path: str) -> str:
        """The token for a request about to leave. Whatever fails here (OAuth refused, timing out
        or unreachable, its store down, anything) fails before a byte of that request left."""
        try:
            return self.access_token()
        except Exception as exc:  # noqa: BLE001 - every cause means the same: nothing was sent
            log.warning("no access token for %s (%s): request not sent", path, exc.__class__.__name__)
            raise DarajaNotSent(f"no access token ({exc.__class__.__name__}: {exc}); request not sent") from exc

    def _post(self, path: str, payload: dict, token: str) -> requests.Response:
        return self._send("POST", path, json=payload, headers={"Authorization": f"Bearer {token}"})

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        url = self._config.base_url.rstrip("/") + path
        timeout = (self._config.connect_timeout, self._config.read_timeout)
        started = time.monotonic()
        try:
            response = self._http.request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            raise _transport_error(exc, method, path) from exc
        log.info("Daraja %s %s -> %s in %.0f ms", method, path, response.status_code,
                 (time.monotonic() - started) * 1000)
        return response

    @staticmethod
    def _answer(response: requests.Response) -> dict:
        """A Daraja reply -> its JSON object, or the matching DarajaError."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and (body.get("errorCode") or body.get("resultCode")):
            raise _rejection(body, status)
        if 200 <= status < 300 and isinstance(body, dict):
            return body
        if status >= 500 or 200 <= status < 300:
            raise DarajaTimeout(f"HTTP {status} without a readable Daraja answer; outcome unknown",
                                http_status=status)
        cls = DarajaAuthError if status == 401 else DarajaRejected
        raise cls(f"HTTP {status} without a Daraja error envelope", http_status=status)

    @staticmethod
    def _accepted(body: dict) -> dict:
        code = str(body.get("ResponseCode", ""))
        if code != "0":
            raise DarajaRejected(str(body.get("ResponseDescription") or "request not accepted"),
                                 error_code=code or None)
        return body


@contextlib.contextmanager
def _building():
    """Building a request: a value it refuses means nothing was sent, and nothing will be."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        raise DarajaInvalidRequest(f"request not sent: {exc}") from exc


@contextlib.contextmanager
def _reading_acceptance():
    """Daraja answered 'accepted' but the answer lacks what we need: the request was received."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        raise DarajaTimeout(f"accepted without {exc}; outcome unknown") from exc


def _originator_id(body: dict) -> str | None:
    """Daraja spells it both ways, depending on the API."""
    return body.get("OriginatorConversationID") or body.get("OriginatorCoversationID")


def _status_accepted(body: dict) -> StatusAccepted:
    return StatusAccepted(conversation_id=str(body.get("ConversationID", "")),
                          originator_conversation_id=str(_originator_id(body) or ""),
                          response_code=str(body["ResponseCode"]))


def _c2b_accepted(body: dict) -> C2bAccepted:
    return C2bAccepted(originator_conversation_id=str(_originator_id(body) or ""),
                       response_code=str(body["ResponseCode"]),
                       response_description=str(body.get("ResponseDescription", "")))


def _rejection(body: dict, status: int) -> DarajaRejected:
    code = str(body.get("errorCode") or body.get("resultCode"))
    message = str(body.get("errorMessage") or body.get("resultDesc") or "")
    is_token_error = code in TOKEN_ERROR_CODES or (status == 401 and code != NO_API_PRODUCT)
    cls = DarajaAuthError if is_token_error else DarajaRejected
    return cls(message, http_status=status, error_code=code, request_id=body.get("requestId"))


def _transport_error(exc: requests.RequestException, method: str, path: str) -> DarajaError:
    """Connect-phase failures surely did not reach Daraja; anything later might have."""
    if _may_have_arrived(exc):
        log.warning("Daraja %s %s: no answer (%s); outcome unknown", method, path,
                    exc.__class__.__name__)
        return DarajaTimeout(f"no answer from Daraja ({exc.__class__.__name__}); outcome unknown")
    log.warning("Daraja %s %s unreachable: %s", method, path, exc.__class__.__name__)
    return DarajaUnreachable(f"could not reach Daraja ({exc.__class__.__name__})")


def _may_have_arrived(exc: requests.RequestException) -> bool:
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError)):
        return False
    if isinstance(exc, requests.ConnectionError):
        return not _failed_to_connect(exc)
    return isinstance(exc, (requests.Timeout, requests.exceptions.ChunkedEncodingError,
                            requests.exceptions.ContentDecodingError))


def _failed_to_connect(exc: requests.ConnectionError) -> bool:
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, (urllib3.exceptions.NewConnectionError,
                               urllib3.exceptions.ConnectTimeoutError,
                               urllib3.exceptions.NameResolutionError))
