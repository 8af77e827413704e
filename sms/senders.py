"""The core's SmsSender port, implemented: Africa's Talking, or the console (sends nothing).

The worker (escrow.messaging) reads a receipt as: accepted -> "sent" (or "recorded");
refused and retryable -> tried again later; refused for good -> "failed". A raised
escrow.ports.SmsError says the same for a request that got no per-recipient answer.
"""
import uuid

from escrow.errors import InvalidPhoneNumber
from escrow.ports import SmsError, SmsReceipt
from sms.at_sender import DEFAULT_TIMEOUT, AfricasTalkingSmsSender
from sms.errors import SmsSendError


class AtSmsSender:
    """Sends through Africa's Talking (the official SDK), answering in the port's types."""

    def __init__(self, *, username: str, api_key: str, sender_id: str | None = None,
                 api_base_url: str | None = None, timeout=DEFAULT_TIMEOUT):
        self._sender = AfricasTalkingSmsSender(username, api_key, sender_id=sender_id,
                                               api_base_url=api_base_url, timeout=timeout)

    def send(self, phone: str, text: str) -> SmsReceipt:
        """AT's answer for this number; SmsError when there was none (or the number is not Kenyan)."""
        try:
            outcome = self._sender.send(phone, text)
        except SmsSendError as error:
            raise SmsError(error.detail, retryable=error.retryable, ambiguous=error.ambiguous) from None
        except InvalidPhoneNumber as error:
            raise SmsError(str(error), retryable=False) from None
        return SmsReceipt(accepted=outcome.accepted, retryable=outcome.retryable,
                          message_id=outcome.message_id, status=outcome.status or f"statusCode {outcome.status_code}",
                          cost=outcome.cost)


class ConsoleSmsSender:
    """The default backend: records that a message was due and sends nothing.

    It logs nothing either; the worker logs the redacted body of a "recorded" message.
    """

    def send(self, phone: str, text: str) -> SmsReceipt:
        return SmsReceipt(accepted=True, retryable=False, message_id=f"console-{uuid.uuid4().hex}",
                          status="recorded")
