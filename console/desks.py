"""The smaller desks: undelivered SMS (with resend), callbacks for review, and daily totals and fees."""
from datetime import datetime, timedelta

from flask import redirect, request, url_for
from sqlalchemy import select

from console.errors import BadRequest
from console.roles import RESEND_SMS
from console.web import Console, actor, page, signed_in
from escrow import audit, desk
from escrow.db import db_now
from escrow.errors import EscrowError
from escrow.models import Order, SmsMessage
from escrow.phone import mask
from escrow.resend import resend_sms

REPORT_MAX_DAYS = 92


def register(bp, console: Console) -> None:
    @bp.route("/sms")
    @signed_in()
    def sms():
        with console.db.transaction() as session:
            rows = [(message, mask(console.core.vault.unseal(message.recipient_sealed)))
                    for message in desk.undelivered_sms(session)]
            references = _references(session, {message.order_id for message, _ in rows})
            now = db_now(session)
        return page("sms.html", rows=rows, references=references, now=now)

    @bp.route("/sms/<int:sms_id>/resend", methods=["POST"])
    @signed_in(RESEND_SMS)
    def resend(sms_id):
        with console.db.transaction() as session:
            try:
                copy = resend_sms(session, sms_id)
            except EscrowError as refused:
                raise BadRequest(str(refused)) from None
            order_id = session.get(SmsMessage, copy).order_id
            reference = _references(session, {order_id}).get(order_id)
            audit.record(session, actor(), "sms_resent", order_reference=reference, target=f"sms #{sms_id}",
                         after={"new_sms": copy})
        return redirect(url_for("console.sms"))

    @bp.route("/callbacks")
    @signed_in()
    def callbacks():
        with console.db.transaction() as session:
            rows = desk.callbacks_for_review(session)
        from console.finding_kinds import CALLBACK_STATUSES
        return page("callbacks.html", rows=rows, statuses=CALLBACK_STATUSES)

    @bp.route("/report")
    @signed_in()
    def report():
        with console.db.transaction() as session:
            today = desk.eat_day_start(db_now(session))
            start = _day(request.args.get("from")) or today - timedelta(days=6)
            end = _day(request.args.get("to"), after=True) or today + timedelta(days=1)
            if not timedelta(0) < end - start <= timedelta(days=REPORT_MAX_DAYS):
                raise BadRequest(f"a report covers 1 to {REPORT_MAX_DAYS} days")
            days = desk.daily_totals(session, start, end)
        totals = {name: sum(day[name] for day in days) for name in ("paid_in", "paid_out", "fees", "orders")}
        return page("report.html", days=days, totals=totals, start=start + desk.EAT,
                    end=end + desk.EAT - timedelta(days=1))


def _references(session, order_ids: set) -> dict:
    ids = [order_id for order_id in order_ids if order_id]
    if not ids:
        return {}
    return dict(session.execute(select(Order.id, Order.reference).where(Order.id.in_(ids))).all())


def _day(text: str | None, after: bool = False):
    if not text:
        return None
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        raise BadRequest("dates are YYYY-MM-DD") from None
    return day + timedelta(days=1 if after else 0) - desk.EAT
