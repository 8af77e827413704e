"""The schema. Alembic migrations create it; these mappings are how the core reads and writes it.

Money columns are BigInteger whole shillings. Phone numbers are stored sealed (encrypted) with a
keyed hash beside them for look-ups. Delivery codes are stored only as keyed hashes.
"""
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from escrow.db import utcnow


class Base(DeclarativeBase):
    pass


def _now_column():
    return mapped_column(DateTime, server_default=utcnow(), nullable=False)


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    initiated_by: Mapped[str] = mapped_column(String(8))
    buyer_key: Mapped[str] = mapped_column(String(64), index=True)
    buyer_sealed: Mapped[str] = mapped_column(Text)
    seller_key: Mapped[str] = mapped_column(String(64), index=True)
    seller_sealed: Mapped[str] = mapped_column(Text)
    item: Mapped[str] = mapped_column(String(40))
    price: Mapped[int] = mapped_column(BigInteger)      # what buyer and seller agreed
    fee: Mapped[int] = mapped_column(BigInteger)
    fee_payer: Mapped[str] = mapped_column(String(8))
    charge: Mapped[int] = mapped_column(BigInteger)     # what the buyer pays into escrow
    payout: Mapped[int] = mapped_column(BigInteger)     # what the seller receives on release
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")        # for this code
    code_failures_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # over the order's life
    code_locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    pay_by: Mapped[datetime | None] = mapped_column(DateTime)          # unpaid orders expire then
    dispatch_by: Mapped[datetime | None] = mapped_column(DateTime)     # undispatched orders refund then
    release_at: Mapped[datetime | None] = mapped_column(DateTime)      # silent buyers auto-release then
    dispute_reason: Mapped[str | None] = mapped_column(String(20))
    seller_accepted_at: Mapped[datetime | None] = mapped_column(DateTime)  # the seller acted on it (0012)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class OrderEvent(Base):
    __tablename__ = "order_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = _now_column()


class PaymentAttempt(Base):
    """One STK Push for an order. Created (and committed) before Daraja is called."""

    __tablename__ = "payment_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))  # queued, sending, sent, unknown, succeeded, failed
    checkout_request_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    merchant_request_id: Mapped[str | None] = mapped_column(String(64))
    result_code: Mapped[str | None] = mapped_column(String(16))
    result_desc: Mapped[str | None] = mapped_column(String(200))
    receipt: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class PaymentReceived(Base):
    """Money in, once per M-Pesa receipt: the receipt's uniqueness is what makes funding idempotent."""

    __tablename__ = "payments_received"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("payment_attempts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(8))  # stk, paybill
    outcome: Mapped[str] = mapped_column(String(16))  # funded, suspense, refunding
    created_at: Mapped[datetime] = _now_column()


_ONE_LIVE = "status NOT IN ('failed', 'double_paid') AND purpose IN ('payout', 'refund')"


class Payout(Base):
    """One B2C transfer (to the seller, or a refund to the buyer)."""

    __tablename__ = "payouts"
    __table_args__ = (
        # At most one live or successful payout (and one refund) per order: a retry needs the
        # earlier attempt to be known failed first. A failed one M-Pesa later reports paid is
        # 'double_paid' (escrow/payouts.py), outside the index: the truth is recorded, and flagged.
        # Returns of unwanted payments are keyed by the payment's receipt instead (in their
        # originator id).
        Index("uq_payouts_one_live", "order_id", "purpose", unique=True,
              sqlite_where=text(_ONE_LIVE), postgresql_where=text(_ONE_LIVE)),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(8))  # payout, refund, return
    recipient_sealed: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))  # queued, sending, sent, unknown, succeeded, failed
    originator_conversation_id: Mapped[str] = mapped_column(String(64), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    receipt: Mapped[str | None] = mapped_column(String(32), unique=True)
    result_code: Mapped[str | None] = mapped_column(String(16))
    result_desc: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class Reversal(Base):
    """Money in sent back by Daraja's Reversal on its TransID (its payer's number arrived masked).
    One row per TransID ever: never re-sent blind; settled by its result or a status query."""

    __tablename__ = "reversals"
    __table_args__ = (Index("uq_reversals_trans_id", "trans_id", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    trans_id: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))  # queued, sending, sent, unknown, succeeded, failed
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    originator_conversation_id: Mapped[str | None] = mapped_column(String(64))
    result_code: Mapped[str | None] = mapped_column(String(16))
    result_desc: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class JournalEntry(Base):
    """A balanced set of postings. Append-only; `dedupe_key` makes each business fact post once."""

    __tablename__ = "journal_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    dedupe_key: Mapped[str] = mapped_column(String(80), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    memo: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now_column()


class Posting(Base):
    """One side of an entry: positive debits, negative credits; each entry's postings sum to zero."""

    __tablename__ = "postings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account: Mapped[str] = mapped_column(String(24), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class OutboxItem(Base):
    """A side effect (STK push, B2C, SMS) written in the same transaction as the fact that causes it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[int] = mapped_column(Integer)
    dedupe_key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", server_default="pending")
    due_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    leased_until: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = _now_column()
    done_at: Mapped[datetime | None] = mapped_column(DateTime)


class InboundCallback(Base):
    """Every provider callback, stored raw before anything else is done with it: sealed in
    `body_sealed`, and in `body` with phone numbers masked and names blanked (escrow.inbox).
    Findings (escrow.findings) live here too, as our own JSON in `body` with no seal."""

    __tablename__ = "inbound_callbacks"
    __table_args__ = (Index("uq_inbound_callbacks_dedupe_key", "dedupe_key", unique=True),
                      # callbacks not yet processed, which every reconcile pass looks for (escrow/intake.py)
                      Index("ix_inbound_callbacks_unprocessed", "received_at",
                            sqlite_where=text("status = 'received'"), postgresql_where=text("status = 'received'")))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(24), index=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(80))  # a provider's own message id, where it has one
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    body_sealed: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="received", server_default="received")
    note: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime] = _now_column()
    # CALLBACK_APPLY=worker (escrow/intake.py): the worker's claim, and the attempt id from an STK callback's URL
    leased_until: Mapped[datetime | None] = mapped_column(DateTime)
    path_attempt_id: Mapped[int | None] = mapped_column(Integer)


class SmsMessage(Base):
    """Every SMS we send or record. The full text is sealed; `body_redacted` has codes blanked."""

    __tablename__ = "sms_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    recipient_key: Mapped[str] = mapped_column(String(64), index=True)
    recipient_sealed: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2))
    body_redacted: Mapped[str] = mapped_column(Text)
    body_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))  # queued, sending, sent, delivered, failed, recorded
    provider_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider_status: Mapped[str | None] = mapped_column(String(32))
    cost: Mapped[str | None] = mapped_column(String(24))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = _now_column()
    updated_at: Mapped[datetime] = _now_column()


class Profile(Base):
    """Per phone number preferences, keyed by the number's keyed hash."""

    __tablename__ = "profiles"
    phone_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    reminders_off: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class CodeAttempt(Base):
    """A delivery-code entry, kept in the database so losing Redis never resets the limits."""

    __tablename__ = "code_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller_key: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = _now_column()


class StatementRun(Base):
    """One statement reconciliation pass over a window of one shortcode's M-Pesa statement
    (escrow.statement.runs). 'complete' means every page of the window was fetched and matched."""

    __tablename__ = "statement_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shortcode: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(8), default="api", server_default="api")  # api, csv
    window_start: Mapped[datetime] = mapped_column(DateTime)
    window_end: Mapped[datetime] = mapped_column(DateTime)
    lines_seen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    matched: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    new: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    missing: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    findings: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(12), default="running", server_default="running")  # running, complete, failed
    note: Mapped[str | None] = mapped_column(String(300))
    started_at: Mapped[datetime] = _now_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class StatementLine(Base):
    """One line of a shortcode's M-Pesa statement, kept once per (shortcode, receipt, kind) however
    many windows see it; `payment_id` is the money-in fact it matched (its real receipt, for a
    payment we funded on an STK query's word)."""

    __tablename__ = "statement_lines"
    __table_args__ = (Index("uq_statement_lines_receipt", "shortcode", "receipt", "kind", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shortcode: Mapped[str] = mapped_column(String(16))
    receipt: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(40))          # Daraja's transactiontype, as given
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)         # positive in, negative out
    account: Mapped[str | None] = mapped_column(String(40))  # bill reference
    party_masked: Mapped[str | None] = mapped_column(String(24))
    party_sealed: Mapped[str | None] = mapped_column(Text)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments_received.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))        # matched, posted, finding, other
    first_run_id: Mapped[int | None] = mapped_column(ForeignKey("statement_runs.id"))
    created_at: Mapped[datetime] = _now_column()


class AccountBalance(Base):
    """One account of one Account Balance answer from M-Pesa (escrow.statement.balances): every answer kept."""

    __tablename__ = "account_balances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shortcode: Mapped[str] = mapped_column(String(16), index=True)
    account: Mapped[str] = mapped_column(String(40))           # "Utility Account", "Working Account", ...
    currency: Mapped[str] = mapped_column(String(3))
    available_cents: Mapped[int] = mapped_column(BigInteger)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime)  # M-Pesa's BOCompletedTime, as UTC
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now_column()


class Operator(Base):
    """A named console account (console/accounts.py): viewer, agent or admin. The TOTP secret is sealed."""

    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(12), unique=True)
    role: Mapped[str] = mapped_column(String(8))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    totp_sealed: Mapped[str | None] = mapped_column(Text)
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    enrol_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrol_by: Mapped[datetime | None] = mapped_column(DateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = _now_column()
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)


class OperatorSession(Base):
    __tablename__ = "operator_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)   # sha256 of the cookie's token
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now_column()
    seen_at: Mapped[datetime] = _now_column()


class AuditEntry(Base):
    """Append-only (triggers refuse UPDATE and DELETE): who did what, when, from where, to which order."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, server_default=utcnow(), nullable=False, index=True)
    operator: Mapped[str] = mapped_column(String(12))
    role: Mapped[str | None] = mapped_column(String(8))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    order_reference: Mapped[str | None] = mapped_column(String(12), index=True)
    target: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(300))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)


_PENDING = "status = 'pending'"


class Approval(Base):
    """Maker-checker: an operator's money decision waiting for a second operator (console/approvals.py)."""

    __tablename__ = "approvals"
    __table_args__ = (Index("uq_approvals_one_pending", "order_reference", unique=True,
                            sqlite_where=text(_PENDING), postgresql_where=text(_PENDING)),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_reference: Mapped[str] = mapped_column(String(12), index=True)
    action: Mapped[str] = mapped_column(String(24))          # resolve_dispute
    detail: Mapped[str] = mapped_column(Text)                # JSON: outcome, to_seller, note
    maker: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12), default="pending", server_default="pending")
    checker: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = _now_column()
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)


# --- the JSON API's tables (api/, migration 0010) ------------------------------------------------
class ApiKey(Base):
    """An integration's key: only its sha256 is kept; the key itself is shown once."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = _now_column()


class ApiIdempotency(Base):
    """One Idempotency-Key per API key: the unique constraint is what stops a second run."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_api_idempotency_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    response_type: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = _now_column()


class ApiVerification(Base):
    """A one-time code sent to a number, and the short-lived token it was exchanged for."""

    __tablename__ = "api_verifications"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    phone_key: Mapped[str] = mapped_column(String(64), index=True)
    phone_sealed: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = _now_column()


class PaymentLink(Base):
    """A pay page's link: for one order (`order_id`), or open (whoever pays becomes the buyer)."""

    __tablename__ = "payment_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("payment_links.id"), index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    seller_key: Mapped[str] = mapped_column(String(64))
    seller_sealed: Mapped[str] = mapped_column(Text)
    item: Mapped[str] = mapped_column(String(40))
    price: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = _now_column()


class ApiOrder(Base):
    """Which integration an order came through (its webhooks go there)."""

    __tablename__ = "api_orders"
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    integration: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime] = _now_column()


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration: Mapped[str] = mapped_column(String(40), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret_sealed: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(String(300))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = _now_column()


class WebhookDelivery(Base):
    """One event for one endpoint, sent by the outbox (kind 'webhook'); once per pair."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "order_event_id", name="uq_webhook_delivery_once"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    order_event_id: Mapped[int] = mapped_column(ForeignKey("order_events.id"))
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = _now_column()


class WebhookCursor(Base):
    __tablename__ = "webhook_cursor"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# --- personal data: erasure requests, numbers purged, the audit purge gate (escrow/privacy, migration 0014) ---
_ERASURE_PENDING = "status = 'pending'"


class ErasureRequest(Base):
    """A person's (or an operator's) request to erase one number. While pending it holds the number
    (sealed) and its keyed hash; once done both are cleared, and only the fact, its source and the
    counts remain (the audit log has the entry)."""

    __tablename__ = "erasure_requests"
    __table_args__ = (Index("uq_erasure_requests_one_pending", "phone_key", unique=True,
                            sqlite_where=text(_ERASURE_PENDING), postgresql_where=text(_ERASURE_PENDING)),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone_key: Mapped[str | None] = mapped_column(String(64))
    phone_sealed: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(8))            # sms, cli, console
    actor: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(8), default="pending", server_default="pending")  # pending, done
    requested_at: Mapped[datetime] = _now_column()
    done_at: Mapped[datetime | None] = mapped_column(DateTime)


class OrderNumbersPurged(Base):
    """An order whose parties' sealed numbers were purged after RETENTION_NUMBERS_DAYS (escrow/privacy)."""

    __tablename__ = "order_numbers_purged"
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    purged_at: Mapped[datetime] = _now_column()


class AuditPurgeGate(Base):
    """Opened (one row) and closed again inside the one transaction that deletes audit entries past
    RETENTION_AUDIT_DAYS: the audit_log trigger lets a DELETE through only for rows older than the
    gate's `purge_before`, and never for a row younger than 90 days (migration 0014)."""

    __tablename__ = "audit_purge_gate"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purge_before: Mapped[datetime] = mapped_column(DateTime)
