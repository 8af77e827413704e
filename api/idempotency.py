"""Idempotency-Key with Stripe's semantics, enforced by a unique constraint (api_key_id, key).

The first request with a key claims it (a committed 'started' row) and runs; its response, errors
included, is stored and every later request with the same key and body gets it back. The same key
with another body is a 422; a duplicate arriving while the first still runs is a 409. A claim is
never taken over, so a request never runs twice under one key. Records are kept 24 hours or more."""
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from api.problems import problem
from escrow.db import Database, db_now, insert_new
from escrow.models import ApiIdempotency

KEEP = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    content_type: str


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def claim(db: Database, key_id: int, key: str, fingerprint: str) -> tuple[int | None, StoredResponse | None]:
    """(record id, None) when this request is first and must run; (None, response) to replay."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise problem("idempotency-key-missing", f"send an Idempotency-Key of 1 to {MAX_KEY_LENGTH} characters")
    for _ in range(2):
        with db.transaction() as session:
            record_id = insert_new(session, ApiIdempotency, api_key_id=key_id, key=key, request_hash=fingerprint,
                                   status="started")
            if record_id is not None:
                return record_id, None
            row = session.scalar(select(ApiIdempotency).where(ApiIdempotency.api_key_id == key_id,
                                                              ApiIdempotency.key == key))
            if row is None:
                continue
            if row.created_at < db_now(session) - KEEP and row.status == "done":
                session.execute(delete(ApiIdempotency).where(ApiIdempotency.id == row.id))
                continue   # an expired key is free again
            if row.request_hash != fingerprint:
                raise problem("idempotency-key-reused")
            if row.status != "done":
                raise problem("idempotency-in-progress")
            return None, StoredResponse(row.response_status, row.response_body, row.response_type)
    raise problem("idempotency-in-progress")


def store(db: Database, record_id: int, response: StoredResponse) -> None:
    with db.transaction() as session:
        session.execute(update(ApiIdempotency).where(ApiIdempotency.id == record_id).values(
            status="done", response_status=response.status, response_body=response.body,
            response_type=response.content_type))


def as_text(document) -> str:
    return json.dumps(document, separators=(",", ":"))
