"""Idempotency-Key with Stripe's semantics, enforced by a unique constraint (api_key_id, key).

The first request with a key claims it (a committed 'started' row) and runs; its response, errors
included, is stored and every later request with the same key and body gets it back. The same key
with another body is a 422; a duplicate arriving while the first still runs is a 409. A claim is
never taken over, so a request never runs twice under one key. Records are kept 24 hours or more,
then the worker deletes them in bounded batches (`purge_expired`, at most once a minute)."""
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from api.problems import problem
from escrow.db import Database, db_now, insert_new
from escrow.models import ApiIdempotency

log = logging.getLogger(__name__)
KEEP = timedelta(hours=24)
MAX_KEY_LENGTH = 255
PURGE_BATCH = 500          # rows per DELETE (one short transaction each)
PURGE_BATCHES = 20         # at most this many per worker pass
PURGE_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    content_type: str


NO_TOKEN = "0" * 16


def request_fingerprint(method: str, path: str, body: bytes, phone_token: str | None = None) -> str:
    """The request a key names (64 hex characters): 48 of its method, path and body, then 16 of the
    phone token it acts with (zeros without one). A key reused with another token is refused instead
    of replaying the first number's answer to another; a first answer given without a token (a 401)
    is replayed whatever token comes later."""
    request = hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()[:48]
    token = hashlib.sha256(phone_token.encode()).hexdigest()[:16] if phone_token else NO_TOKEN
    return request + token


def same_request(stored: str, fingerprint: str) -> bool:
    return stored[:48] == fingerprint[:48] and stored[48:] in (fingerprint[48:], NO_TOKEN)


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
            if not same_request(row.request_hash, fingerprint):
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


def purge_expired(db: Database, *, batch: int = PURGE_BATCH, batches: int = PURGE_BATCHES) -> int:
    """Delete records older than KEEP (finished or not: a claim left by a crashed request frees its key),
    oldest first, `batch` rows per transaction and at most `batches` of them; returns how many went."""
    removed = 0
    for _ in range(batches):
        with db.transaction() as session:
            oldest = (select(ApiIdempotency.id).where(ApiIdempotency.created_at < db_now(session) - KEEP)
                      .order_by(ApiIdempotency.id).limit(batch))
            count = session.execute(delete(ApiIdempotency).where(ApiIdempotency.id.in_(oldest))
                                    .execution_options(synchronize_session=False)).rowcount
        removed += count
        if count < batch:
            break
    return removed


def purge_each_pass(worker, db: Database, every_seconds: float = PURGE_EVERY_SECONDS):
    """Wrap `worker.run_once` so a pass purges expired records at most every `every_seconds`; a
    failure here never stops the outbox."""
    run_once, last = worker.run_once, [None]

    def run_once_and_purge() -> int:
        purged, now = 0, time.monotonic()
        if last[0] is None or now - last[0] >= every_seconds:
            last[0] = now
            try:
                purged = purge_expired(db)
            except Exception:  # noqa: BLE001
                log.exception("idempotency purge failed")
        return run_once() + purged
    worker.run_once = run_once_and_purge
    return worker
