"""Send one SMS through the official Africa's Talking SDK and say plainly what happened.

Every answer becomes either an SmsOutcome (AT answered for the recipient: accepted
or refused, retryable or not) or an SmsSendError (the whole request failed). The
message text and the API key are never logged; phone numbers are logged masked.
"""
import json
import logging
import threading

import requests
from urllib3.exceptions import NewConnectionError
from africastalking.Service import AfricasTalkingException
from africastalking.SMS import SMSService

from escrow.phone import mask, normalize_msisdn, to_e164
from sms.errors import SmsSendError
from sms.results import SmsOutcome, outcome_from_recipient

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (3.05, 10.0)
_AUTH_FAILURE_TEXT = "supplied authentication is invalid"


class AfricasTalkingSmsSender:
    """Sends texts with its own SDK SMSService (never the SDK's module-level singletons)."""

    def __init__(self, username: str, api_key: str, sender_id: str | None = None,
                 api_base_url: str | None = None, timeout=DEFAULT_TIMEOUT):
        self._service = SMSService(username, api_key)
        if api_base_url:
            url = api_base_url.rstrip("/") + "/version1"
            self._service._baseUrl = url
            self._service._contentUrl = url
        self._sender_id = sender_id
        self._timeout = timeout
        self._last_status = _HttpStatusWatch(self._service)

    def send(self, phone: str, text: str) -> SmsOutcome:
        """Send `text` to one Kenyan number; SmsSendError when AT gave no per-recipient answer."""
        e164 = to_e164(normalize_msisdn(phone))
        try:
            outcome = self._outcome(self._post(e164, text), e164)
        except SmsSendError as error:
            log.warning("sms to %s failed: %r", mask(e164), error)
            raise
        log.info("sms to %s: accepted=%s statusCode=%s messageId=%s", mask(e164),
                 outcome.accepted, outcome.status_code, outcome.message_id)
        return outcome

    def _post(self, e164: str, text: str):
        self._last_status.reset()
        try:
            return self._service.send(text, [e164], sender_id=self._sender_id,
                                      enqueue=True, timeout=self._timeout)
        except AfricasTalkingException as error:
            raise _http_failure(self._last_status.value, str(error)) from None
        except requests.exceptions.RequestException as error:
            raise _transport_failure(error) from None

    def _outcome(self, body, e164: str) -> SmsOutcome:
        data = _message_data(body, self._last_status.value)
        recipients = data.get("Recipients") or []
        if not recipients:
            reason = str(data.get("Message") or "no recipients")[:80]
            raise SmsSendError(f"AT accepted no recipients: {reason}", retryable=False,
                               http_status=self._last_status.value)
        mine = [r for r in recipients if isinstance(r, dict) and r.get("number") == e164]
        return outcome_from_recipient((mine or recipients)[0], e164)


def _message_data(body, http_status: int | None) -> dict:
    """SMSMessageData from the SDK's answer (a dict; a str when the content type is not exact)."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            body = None
    data = body.get("SMSMessageData") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("Recipients", []), list):
        raise SmsSendError("AT's success answer could not be read", retryable=True,
                           http_status=http_status, ambiguous=True)
    return data


def _http_failure(http_status: int | None, body: str) -> SmsSendError:
    """A non-2xx answer: 401 is an auth problem (permanent); 5xx, 408 and 429 are retryable."""
    if http_status is None and _AUTH_FAILURE_TEXT in body.lower():
        http_status = 401
    detail = f"AT answered HTTP {http_status or '?'}: {body.strip()[:80]}"
    if http_status is None or http_status >= 500 or http_status in (408, 429):
        return SmsSendError(detail, retryable=True, http_status=http_status,
                            ambiguous=http_status == 504)
    return SmsSendError(detail, retryable=False, http_status=http_status)


def _transport_failure(error: requests.exceptions.RequestException) -> SmsSendError:
    """No HTTP answer. Retryable; ambiguous unless the request surely never left."""
    never_sent = isinstance(error, requests.exceptions.ConnectTimeout) or _refused(error)
    return SmsSendError(f"no answer from AT ({type(error).__name__})", retryable=True,
                        ambiguous=not never_sent)


def _refused(error: requests.exceptions.RequestException) -> bool:
    """A connection that could not be opened (refused, DNS): nothing was sent."""
    if not isinstance(error, requests.exceptions.ConnectionError):
        return False
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


class _HttpStatusWatch:
    """Notes the HTTP status of the SDK's last POST in this thread.

    The SDK raises AfricasTalkingException(body) without the status code, so this
    wraps the instance's (name-mangled) POST helper to read it. If a future SDK
    drops that helper, `value` stays None and the error body is used instead.
    """

    def __init__(self, service: SMSService):
        self._local = threading.local()
        original = getattr(type(service), "_Service__make_post_request", None)
        if original is not None:
            service._Service__make_post_request = self._watching(original)

    def _watching(self, original):
        def post(*args, **kwargs):
            response = original(*args, **kwargs)
            self._local.status = getattr(response, "status_code", None)
            return response
        return post

    def reset(self) -> None:
        self._local.status = None

    @property
    def value(self) -> int | None:
        return getattr(self._local, "status", None)
