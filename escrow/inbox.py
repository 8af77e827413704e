"""Provider callbacks kept raw before they are acted on, and marked with what became of them.

The raw body is personal data (numbers; names in C2B and B2C results): it is kept sealed, and the
`body` column holds a review copy with numbers masked and name fields blanked."""
import re

from sqlalchemy import update

from escrow.db import Database, insert_row
from escrow.models import InboundCallback
from escrow.phone import mask_numbers_in
from escrow.vault import Vault

MAX_BODY = 64 * 1024
# Daraja's name-bearing fields, as JSON keys or in {"Key": ..., "Value": ...} result parameters.
_NAME_FIELD = re.compile(r'("(?:FirstName|MiddleName|LastName)"\s*:\s*)"[^"]*"')
_NAME_PARAMETER = re.compile(r'("(?:ReceiverPartyPublicName|DebitPartyName|CreditPartyName)"\s*,\s*"Value"\s*:\s*)'
                             r'"[^"]*"')


def review_copy(raw: str) -> str:
    """What an operator may read of a raw body: numbers masked, names blanked."""
    blanked = _NAME_PARAMETER.sub(r'\1"***"', _NAME_FIELD.sub(r'\1"***"', raw))
    return mask_numbers_in(blanked)


def store_callback(db: Database, vault: Vault, *, source: str, body: bytes | str, remote_addr: str | None) -> int:
    """Commit the body first, so nothing that arrives is ever lost, whatever happens next."""
    text = (body.decode("utf-8", "replace") if isinstance(body, bytes) else body)[:MAX_BODY]
    with db.transaction() as session:
        return insert_row(session, InboundCallback, source=source, body=review_copy(text),
                          body_sealed=vault.seal(text), remote_addr=(remote_addr or "")[:64], status="received")


def raw_body(vault: Vault, body: str, body_sealed: str | None) -> str:
    """The body as it arrived (rows stored before bodies were sealed hold it in `body`)."""
    return vault.unseal(body_sealed) if body_sealed is not None else body


def mark_callback(session, callback_id: int, status: str, note: str | None = None) -> None:
    session.execute(update(InboundCallback).where(InboundCallback.id == callback_id)
                    .values(status=status, note=(note or "")[:300] or None))


def mark_callback_alone(db: Database, callback_id: int, status: str, note: str | None = None) -> None:
    with db.transaction() as session:
        mark_callback(session, callback_id, status, note)
