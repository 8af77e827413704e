"""Alerts to the people on call (ALERT_PHONES, issue 15): an SMS for money-critical findings, a low B2C
float and a stale worker heartbeat, at most one per kind per hour; the console lists the same rows.

An alert is a row of `alerts`, unique per (kind, clock hour), written in the same transaction as one
SMS per number through the outbox: two workers, a retried pass or a web process seeing the same thing
cannot text anyone twice. A later alert of a kind also waits a full hour after the last one (read under a
per-kind transaction lock on PostgreSQL, so two raisers either side of a clock hour cannot both pass). The stale
heartbeat is seen by whoever is not the worker (/readyz, `flask alerts check`), and since the outbox is
the worker's, those send that SMS at once as well (escrow.messaging never sends a message twice).
"""
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from escrow import outbox
from escrow.context import Core
from escrow.db import db_now, insert_new, insert_row
from escrow.errors import ConfigError, EscrowError
from escrow.findings import FINDING
from escrow.models import InboundCallback, SmsMessage
from escrow.ops_models import Alert
from escrow.phone import normalize_msisdn
from escrow.settings import read_int, read_list

log = logging.getLogger(__name__)

FINDINGS, FLOAT_LOW, WORKER_STALE = "money-finding", "float-low", "worker-stale"
KINDS = (FINDINGS, FLOAT_LOW, WORKER_STALE)
SMS_KIND = "ops_alert"
HOUR = timedelta(hours=1)
# Finding kinds about the service's own bookkeeping, not about money that may be wrong: no SMS at night.
NOT_MONEY = frozenset({"float-low", "statement-failed", "statement-gap", "statement-unreadable", "statement-changed",
                       "statement-new", "statement-number", "statement-movement", "callback-unprocessable",
                       "payout-waiting-float", "code-sms-failed", "code-on-screen", "stk-still-checking"})


@dataclass(frozen=True)
class AlertSettings:
    phones: tuple = ()                 # ALERT_PHONES: comma-separated numbers of the people on call
    check_every: int = 60              # ALERT_CHECK_SECONDS: how often the worker looks

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "AlertSettings":
        phones = []
        for raw in read_list(env, "ALERT_PHONES"):
            try:
                phones.append(normalize_msisdn(raw))
            except (EscrowError, ValueError):
                raise ConfigError(f"ALERT_PHONES holds something that is not a Kenyan mobile number "
                                  f"(item {len(phones) + 1})") from None
        return cls(phones=tuple(dict.fromkeys(phones)),
                   check_every=read_int(env, "ALERT_CHECK_SECONDS", 60, minimum=1))


def is_money_critical(kind: str | None) -> bool:
    return bool(kind) and kind not in NOT_MONEY


def raise_alert(session: Session, core: Core, settings: AlertSettings, kind: str, summary: str,
                detail: str | None = None) -> tuple[int, list[int]] | None:
    """Record the alert and queue its SMS, unless one of this kind went out within the hour.
    (alert id, SMS ids) when newly raised, else None."""
    if session.get_bind().dialect.name == "postgresql":   # one raiser per kind at a time: the hour check
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"zemi:alert:{kind}"})
    now = db_now(session)                                  # then holds across clock hours too
    last = session.scalar(select(func.max(Alert.created_at)).where(Alert.kind == kind))
    if last is not None and now - last < HOUR:
        return None
    hour = now.replace(minute=0, second=0, microsecond=0)
    body = f"Zemi alert ({kind}): {summary}"[:155]
    alert_id = insert_new(session, Alert, kind=kind, hour=hour, summary=summary[:300], detail=detail,
                          recipients=len(settings.phones), created_at=now)
    if alert_id is None:
        return None
    sms_ids = []
    for phone in settings.phones:
        sms_id = insert_row(session, SmsMessage, order_id=None, recipient_key=core.vault.phone_key(phone),
                            recipient_sealed=core.vault.seal(phone), kind=SMS_KIND, language="en",
                            body_redacted=body, body_sealed=core.vault.seal(body), status="queued")
        outbox.enqueue(session, outbox.SMS, sms_id, due_at=now)
        sms_ids.append(sms_id)
    log.warning("alert %s raised (%d on call told): %s", kind, len(sms_ids), summary)
    return alert_id, sms_ids


def check_findings(session: Session, core: Core, settings: AlertSettings) -> list[str]:
    """Money-critical findings and a low float recorded since the last alert of their kind."""
    raised = []
    for kind, wanted in ((FINDINGS, is_money_critical), (FLOAT_LOW, lambda k: k == FLOAT_LOW)):
        since = session.scalar(select(func.max(Alert.created_at)).where(Alert.kind == kind)) or datetime(2000, 1, 1)
        fresh = [finding for finding in _open_findings_since(session, since) if wanted(finding[1])]
        if not fresh:
            continue
        newest_kind, reference = fresh[-1][1], fresh[-1][2]
        summary = (f"{len(fresh)} new finding(s), latest {newest_kind}"
                   + (f" on order {reference}" if reference else "") + ": see /console/alerts")
        if kind == FLOAT_LOW:
            summary = "B2C float is below what is owed out: top it up (see /console/alerts)"
        if raise_alert(session, core, settings, kind, summary, detail=", ".join(sorted({f[1] for f in fresh}))):
            raised.append(kind)
    return raised


def _open_findings_since(session: Session, since: datetime) -> list[tuple]:
    """(id, kind, order reference) of open findings recorded after `since`, oldest first."""
    import json
    rows = session.execute(select(InboundCallback.id, InboundCallback.body).where(
        InboundCallback.source == FINDING, InboundCallback.status == "open", InboundCallback.received_at > since)
        .order_by(InboundCallback.id).limit(500)).all()
    found = []
    for finding_id, body in rows:
        parsed = json.loads(body)
        found.append((finding_id, parsed.get("kind"), parsed.get("order")))
    return found


def worker_stale(session: Session, core: Core, settings: AlertSettings,
                 age_seconds: float | None) -> tuple[int, list[int]] | None:
    """The worker's heartbeat is stale (None: never seen): raise the alert; (alert id, the SMS ids to send
    at once: the outbox waits for the worker that is not running), or None if one went out within the hour."""
    said = "no heartbeat at all" if age_seconds is None else f"last pass {int(age_seconds)} s ago"
    return raise_alert(session, core, settings, WORKER_STALE,
                       f"the worker is not running ({said}): payouts, SMS and checks wait")


def recent(session: Session, *, days: int = 7, limit: int = 100) -> list[Alert]:
    since = db_now(session) - timedelta(days=days)
    return list(session.scalars(select(Alert).where(Alert.created_at >= since).order_by(Alert.id.desc())
                                .limit(limit)))


def check_each_pass(worker, settings: AlertSettings):
    """Wrap the worker's pass: every `check_every` seconds look for findings and a low float."""
    import time
    run_once, last = worker.run_once, [0.0]

    def run_once_and_check() -> int:
        handled = run_once()
        now = time.monotonic()
        if now - last[0] >= settings.check_every:
            last[0] = now
            try:
                with worker.db.transaction() as session:
                    check_findings(session, worker.core, settings)
            except Exception:  # noqa: BLE001 -- an alert check must never stop the worker
                log.exception("alert check failed")
        return handled

    worker.run_once = run_once_and_check
    return worker


def stale_worker_alerter(db, core: Core, sender, settings: AlertSettings):
    """What /readyz and `flask alerts check` call with the heartbeat's age when it is stale: raise the
    alert and send its SMS now (`sender` is the SMS port; app.py composes it)."""
    from escrow.messaging import send_sms

    def alert(age_seconds: float | None) -> bool:
        """True when the alert was raised now (its SMS sent at once)."""
        with db.transaction() as session:
            raised = worker_stale(session, core, settings, age_seconds)
        for sms_id in raised[1] if raised else ():
            try:
                send_sms(db, core, sender, sms_id)
            except Exception as error:  # noqa: BLE001 -- the outbox still holds it for the worker
                log.warning("alert SMS %s not sent now: %s", sms_id, type(error).__name__)
        return raised is not None
    return alert
