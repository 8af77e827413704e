"""AT's end-of-session notification, reduced to what analytics needs and safe to keep.

Dropped: the raw `input` (it can hold a delivery code) and the full phone number (masked). AT's copy
of the last screen (`lastAppResponse`) is dropped when that screen showed a delivery code (`private`),
and any lone 6-digit group left in it is blanked all the same (the session record may have expired).
"""
import re

from escrow.errors import InvalidPhoneNumber
from escrow.phone import mask, mask_loose

KEPT_FIELDS = ("date", "sessionId", "serviceCode", "networkCode", "status", "cost",
               "durationInMillis", "hopsCount", "hopsMetadata", "errorMessage", "lastAppResponse")
FIELD_CHARS = 200


CODE_LIKE = re.compile(r"(?<![\d,])\d{6}(?![\d,])")
HIDDEN = "[not kept: it showed a delivery code]"


def event_record(form, app_hops: list | None = None, *, private: bool = False) -> dict:
    """The notification as stored: known fields clipped, number masked, input reduced to a count."""
    event = {name: str(form.get(name, ""))[:FIELD_CHARS] for name in KEPT_FIELDS if name in form}
    if "lastAppResponse" in event:
        event["lastAppResponse"] = HIDDEN if private else CODE_LIKE.sub("******", event["lastAppResponse"])
    event["phone"] = _masked(form.get("phoneNumber", ""))
    typed = str(form.get("input", "") or "")
    event["inputs"] = typed.count("*") + 1 if typed else 0
    if app_hops:
        event["app_hops"] = app_hops
    return event


def _masked(number: str) -> str:
    try:
        return mask(number)
    except InvalidPhoneNumber:
        return mask_loose(number)
