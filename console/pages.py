"""What operators read: the overview, the order search (and its CSV), one order, the desks, the audit log."""
import csv
import io
import re
from datetime import datetime, timedelta

from flask import Response, redirect, request, stream_with_context, url_for

from console import finding_kinds
from console.chart import LEGEND, thirty_days
from console.errors import BadRequest
from console.roles import EXPORT, MANAGE_OPERATORS
from console.web import Console, actor, page, signed_in
from escrow import alerts, audit, desk, lockouts
from escrow.db import db_now
from escrow.findings import list_findings
from escrow.states import State

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000
STATES = tuple(state.value for state in State)


def register(bp, console: Console) -> None:
    @bp.route("/")
    @signed_in()
    def overview():
        with console.db.transaction() as session:
            figures = desk.overview(session)
            today = desk.eat_day_start(figures.now)
            days = desk.daily_totals(session, today - timedelta(days=29), today + timedelta(days=1))
            recent_alerts = alerts.recent(session, days=1, limit=10)
            locked = len(lockouts.locked_callers(session)) + len(lockouts.locked_orders(session))
        chart = thirty_days(days, (today + desk.EAT).date())
        return page("overview.html", figures=figures, chart=chart, legend=LEGEND, alerts=recent_alerts, locked=locked)

    @bp.route("/orders")
    @signed_in()
    def orders():
        if desk.phone_key_of(console.core, request.args.get("q")):
            return redirect(url_for("console.orders", **search_args(console, request.args)))
        wanted = search_from(request.args)
        with console.db.transaction() as session:
            rows, next_id = desk.search_orders(session, console.core, wanted, after_id=_int(request.args.get("after")),
                                               limit=PAGE_SIZE)
            listed = [(order, *desk.masked_parties(console.core, order)) for order in rows]
        kept = {name: values for name, values in request.args.lists() if name != "after"}
        next_url = url_for("console.orders", **kept, after=next_id) if next_id else None
        csv_url = url_for("console.orders_csv", **kept)
        return page("orders.html", rows=listed, next_url=next_url, csv_url=csv_url, wanted=wanted, states=STATES,
                    args=request.args)

    @bp.route("/orders/find", methods=["POST"])
    @signed_in()
    def find_orders():
        """The search form posts here, so a phone number typed into it never sits in a URL (nor in
        access logs): it becomes its keyed hash, the way orders are looked up anyway."""
        return redirect(url_for("console.orders", **search_args(console, request.form)))

    @bp.route("/orders.csv")
    @signed_in(EXPORT)
    def orders_csv():
        wanted = search_from(request.args)
        with console.db.transaction() as session:
            audit.record(session, actor(), "orders_exported", after={"text": wanted.text, "party": bool(wanted.party_key),
                                                                     "states": wanted.states, "start": wanted.start,
                                                                     "end": wanted.end})
        headers = {"Content-Disposition": "attachment; filename=zemi-orders.csv"}
        return Response(stream_with_context(_csv_rows(console, wanted)), mimetype="text/csv", headers=headers)

    @bp.route("/orders/<reference>")
    @signed_in()
    def order(reference):
        return order_page(console, reference)

    @bp.route("/disputes")
    @signed_in()
    def disputes():
        with console.db.transaction() as session:
            return page("disputes.html", disputes=desk.open_disputes(session), now=db_now(session))

    @bp.route("/findings")
    @signed_in()
    def findings():
        from escrow.anomalies import ledger_anomalies
        with console.db.transaction() as session:
            rows = list_findings(session, include_resolved=request.args.get("all") == "1")
            failures, warnings = ledger_anomalies(session)
        return page("findings.html", findings=rows, meaning=finding_kinds.meaning, failures=failures,
                    warnings=warnings, shown=_detail)

    @bp.route("/audit")
    @signed_in()
    def audit_log():
        with console.db.transaction() as session:
            rows = audit.entries(session, order_reference=request.args.get("order") or None,
                                 before_id=_int(request.args.get("before")), limit=PAGE_SIZE)
        return page("audit.html", entries=rows)

    @bp.route("/operators")
    @signed_in(MANAGE_OPERATORS)
    def operators():
        return page("operators.html", operators=console.accounts.everyone())


def order_page(console: Console, reference: str, *, revealed: dict | None = None, message: str | None = None,
               preview: dict | None = None, status: int = 200):
    with console.db.transaction() as session:
        try:
            file = desk.order_file(session, reference)
        except Exception as error:  # noqa: BLE001 -- OrderNotFound and a malformed reference read the same
            raise BadRequest(f"no order {reference[:12]!s}") from error
        buyer, seller = desk.masked_parties(console.core, file.order)
        trail = audit.entries(session, order_reference=file.order.reference, limit=20)
    from console.approvals import pending_for
    return page("order.html", status=status, file=file, buyer=buyer, seller=seller, revealed=revealed or {},
                trail=trail, message=message or _done_message(), preview=preview,
                pending=pending_for(console, file.order.reference))


_DONE = {"resolved": "The dispute is resolved; both parties' SMS are queued.", "noted": "Note added to the audit log.",
         "proposed": "The decision waits for a second agent's approval (the amount is above the approval limit).",
         "cancel_proposed": "The cancellation waits for a second admin's approval (the amount is above the approval "
                            "limit).",
         "rejected": "The proposal is rejected; nothing moved.",
         "cancelled": "The order is cancelled; both parties' SMS are queued (and the buyer's refund, if paid)."}


_NOT_DETAIL = {"id", "at", "status", "kind", "order", "summary", "resolution", "resolved_at"}


def _detail(finding: dict) -> str:
    """A finding's own detail fields (amounts, receipts, ids), as `name=value` pairs."""
    return ", ".join(f"{name}={value}" for name, value in sorted(finding.items())
                     if name not in _NOT_DETAIL and value not in (None, ""))[:400]


def _done_message():
    return _DONE.get(request.args.get("done", ""))


def search_args(console: Console, form) -> dict:
    """A search as URL arguments, with a phone number replaced by its keyed hash."""
    args = {"state": [state for state in form.getlist("state") if state in STATES],
            "from": form.get("from") or None, "to": form.get("to") or None}
    typed = (form.get("q") or "").strip()[:40]
    key = desk.phone_key_of(console.core, typed)
    args.update({"party": key} if key else {"q": typed or None})
    return {name: value for name, value in args.items() if value}


def search_from(args) -> desk.OrderFilter:
    states = tuple(state for state in args.getlist("state") if state in STATES)
    party = args.get("party") or ""
    return desk.OrderFilter(text=(args.get("q") or "")[:40], states=states, start=_day(args.get("from")),
                            end=_day(args.get("to"), next_day=True),
                            party_key=party if re.fullmatch(r"[0-9a-f]{64}", party) else None)


def _day(text: str | None, next_day: bool = False) -> datetime | None:
    """A date typed in EAT as naive UTC: its start, or (for 'to') the start of the day after."""
    if not text:
        return None
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        raise BadRequest("dates are YYYY-MM-DD") from None
    return day + timedelta(days=1 if next_day else 0) - desk.EAT


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) < 12 else None


def _csv_rows(console: Console, wanted: desk.OrderFilter):
    """The filtered list, masked, a page of the keyset at a time (each in its own short transaction)."""
    yield _line(["reference", "state", "item", "price", "fee", "fee_payer", "charge", "payout", "buyer", "seller",
                 "created_eat", "updated_eat"])
    after, sent = None, 0
    while sent < EXPORT_LIMIT:
        with console.db.transaction() as session:
            rows, after = desk.search_orders(session, console.core, wanted, after_id=after, limit=1000)
            lines = [_line([o.reference, o.state, _cell(o.item), o.price, o.fee, o.fee_payer, o.charge, o.payout,
                            *desk.masked_parties(console.core, o), _eat(o.created_at), _eat(o.updated_at)])
                     for o in rows]
        sent += len(lines)
        yield "".join(lines)
        if after is None:
            return


def _cell(text: str) -> str:
    """No formula injection when the file is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _eat(moment) -> str:
    return f"{moment + desk.EAT:%Y-%m-%d %H:%M}"


def _line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()

