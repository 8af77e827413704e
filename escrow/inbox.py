"""Provider callbacks kept raw before they are acted on, and marked with what became of them.

The raw body is personal data (numbers; names in C2B and B2C results): it is kept sealed, and the
`body` column holds a review copy with numbers masked and name fields blanked."""
import base64
import re

from sqlalchemy import update

from escrow.db import Database, insert_row
from escrow.models import InboundCallback
from escrow.phone import mask_numbers_in
from escrow.vault import Vault

MAX_BODY = 64 * 1024          # the review copy; the sealed copy keeps every byte
BINARY_MARK = "\x00base64:"
# Daraja's name-bearing fields, as JSON keys or in {"Key": ..., "Value": ...} result parameters.
_NAME_FIELD = re.compile(r'("(?:FirstName|MiddleName|LastName)"\s*:\s*)"[^"]*"')
_NAME_PARAMETER = re.compile(r'("(?:ReceiverPartyPublicName|DebitPartyName|CreditPartyName)"\s*,\s*"Value"\s*:\s*)'
                             r'"[^"]*"')


def review_copy(raw: str) -> str:
    """What an operator may read of a raw body: numbers masked, names blanked."""
    blanked = _NAME_PARAMETER.sub(r'\1"***"', _NAME_FIELD.sub(r'\1"***"', raw))
    return mask_numbers_in(blanked)


def store_callback(db: Database, vault: Vault, *, source: str, body: bytes | str, remote_addr: str | None,
                   status: str = "received", note: str | None = None) -> int:
    """Commit the body first, so nothing that arrives is ever lost, whatever happens next: one INSERT."""
    with db.transaction() as session:
        return insert_row(session, InboundCallback, **callback_row(vault, source=source, body=body,
                                                                  remote_addr=remote_addr, status=status, note=note))


def callback_row(vault: Vault, *, source: str, body: bytes | str, remote_addr: str | None, status: str = "received",
                 note: str | None = None, sealed: str | None = None) -> dict:
    """The stored form of a callback: its exact bytes sealed (`sealed` when already sealed, as in
    the journal), and a review copy that fits any database: valid text, no NUL, at most MAX_BODY."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    return dict(source=source[:24], body=review_copy(_text_of(raw)[:MAX_BODY]),
                body_sealed=sealed if sealed is not None else vault.seal(seal_form(raw)),
                remote_addr=_clean(remote_addr or "")[:64], status=status, note=_clean(note or "")[:300] or None)


def seal_form(raw: bytes) -> str:
    """What is sealed for a body: its text when it is UTF-8 without NUL, else its bytes in base64
    behind BINARY_MARK (a prefix no text body can start with: it begins with NUL)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        return text
    return BINARY_MARK + base64.b64encode(raw).decode("ascii")


def _text_of(raw: bytes) -> str:
    return _clean(raw.decode("utf-8", "replace"))


def _clean(text: str) -> str:
    """PostgreSQL text cannot hold NUL: the review copy and notes drop it (the seal keeps it)."""
    return text.replace("\x00", "")


def raw_body(vault: Vault, body: str, body_sealed: str | None) -> str:
    """The body as it arrived, as text (rows stored before bodies were sealed hold it in `body`);
    bytes that were not UTF-8 are shown as U+FFFD."""
    if body_sealed is None:
        return body
    sealed = vault.unseal(body_sealed)
    if sealed.startswith(BINARY_MARK):
        return base64.b64decode(sealed[len(BINARY_MARK):]).decode("utf-8", "replace")
    return sealed


def raw_bytes(vault: Vault, body: str, body_sealed: str | None) -> bytes:
    """The body exactly as it arrived, byte for byte."""
    if body_sealed is None:
        return body.encode()
    sealed = vault.unseal(body_sealed)
    if sealed.startswith(BINARY_MARK):
        return base64.b64decode(sealed[len(BINARY_MARK):])
    return sealed.encode()


def mark_callback(session, callback_id: int, status: str, note: str | None = None) -> None:
    session.execute(update(InboundCallback).where(InboundCallback.id == callback_id)
                    .values(status=status[:12], note=_clean(note or "")[:300] or None))


def mark_callback_alone(db: Database, callback_id: int, status: str, note: str | None = None) -> None:
    with db.transaction() as session:
        mark_callback(session, callback_id, status, note)
