"""The operator's and developer's `flask` commands; thin wrappers over the core's use cases and reports."""
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from escrow import migrate
from escrow.errors import EscrowError
from escrow import audit
from escrow.reports import (ATTENTION, CALLBACKS_FOR_REVIEW, callback_list_report, callback_report, eat_text,
                            ledger_findings, order_list_report, order_report, sms_report, undelivered_sms_report)
from escrow.states import State
from operator_commands import as_option, cli_actor, dispute_audit, finding_audit


def components():
    return current_app.extensions["zemi"]


def register_commands(app: Flask) -> None:
    for group in (db_group, orders_group, disputes_group, sms_group, ledger_group, mpesa_group, callbacks_group):
        app.cli.add_command(group)
    app.cli.add_command(worker_command)
    app.cli.add_command(phone_command)
    app.cli.add_command(embedded_redis_command)
    app.cli.add_command(reconcile_command)
    app.cli.add_command(keys_group)
    app.cli.add_command(operators_group)
    from operator_commands import register_operator_commands   # orders cancel, sms resend, codes, alerts
    register_operator_commands(orders_group, sms_group, app.cli)
    from api.commands import apikeys_group, webhooks_group
    app.cli.add_command(apikeys_group)
    app.cli.add_command(webhooks_group)
    from data_commands import data_group   # flask data purge / erase (escrow/privacy)
    app.cli.add_command(data_group)


db_group = AppGroup("db", help="Database migrations (Alembic).")
keys_group = AppGroup("keys", help="The data key (DATA_KEY) sealing personal data at rest.")


@keys_group.command("reseal")
@click.option("--batch", type=click.IntRange(min=1), default=200, show_default=True, help="Rows per transaction.")
def keys_reseal(batch):
    """Re-seal every sealed column under DATA_KEY's newest (first) key; safe while the service runs,
    and a rerun only does what is left. Afterwards the older keys can be dropped from DATA_KEY."""
    from escrow.rekey import reseal_everything

    zemi = components()
    report = reseal_everything(zemi.db, zemi.core.vault.reseal, batch=batch,
                               on_batch=lambda column, last: click.echo(f"{column}: done up to id {last}", err=True))
    for line in report.lines():
        click.echo(line)
    click.echo(f"resealed {report.total('resealed')}, already current {report.total('current')}, "
               f"changed meanwhile {report.total('changed meanwhile')}, unreadable {report.total('unreadable')}")
    if report.total("unreadable"):
        sys.exit(1)


@db_group.command("upgrade")
@click.argument("revision", default="heads")
def db_upgrade(revision):
    """Migrate the database to REVISION (default: the newest)."""
    migrate.upgrade(components().settings["DATABASE_URL"], revision)
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision):
    migrate.downgrade(components().settings["DATABASE_URL"], revision)


@click.command("worker")
@click.option("--once", is_flag=True, help="Process everything due now, then exit.")
def worker_command(once):
    """Send STK pushes, payouts and SMS from the outbox."""
    worker = components().worker()
    _log_to_stderr()   # "sms 12 delivery_code to 0712***678: ..." lines: the recorded SMS, redacted
    from observability import serve_worker_metrics
    serve_worker_metrics(components().settings)   # WORKER_METRICS_PORT: the worker's own /metrics
    if once:
        click.echo(f"handled {worker.run_once()} item(s)")
        return
    click.echo("worker running; Ctrl-C to stop")
    worker.run_forever()


def _log_to_stderr() -> None:
    """INFO lines to stderr unless logging is set up already (LOG_FORMAT=json, gunicorn, a test)."""
    import logging

    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


orders_group = AppGroup("orders", help="Look at orders.")


@orders_group.command("show")
@click.argument("reference")
@click.option("--reveal", is_flag=True, help="Show full phone numbers (personal data).")
def orders_show(reference, reveal):
    """Print an order: `<reference> <state>` first, then amounts and its timeline."""
    with components().db.transaction() as session:
        try:
            lines = order_report(session, components().core, reference, reveal=reveal)
        except EscrowError:
            raise click.ClickException(f"no order {reference}")
    click.echo("\n".join(lines))


@orders_group.command("list")
@click.option("--state", "states", multiple=True, type=click.Choice([state.value for state in State]),
              help="Only orders in this state (repeatable).")
@click.option("--attention", is_flag=True, help="Only orders an operator must decide: "
              + ", ".join(ATTENTION) + ".")
@click.option("--number", default=None, help="Only orders where this number is buyer or seller.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--reveal", is_flag=True, help="Show full phone numbers (personal data).")
def orders_list(states, attention, number, limit, reveal):
    """The most recently changed orders, newest first, one line each."""
    def report():
        with components().db.transaction() as session:
            return order_list_report(session, components().core, states=tuple(states) + (ATTENTION * attention),
                                     number=number, limit=limit, reveal=reveal)
    lines = _run(report)
    click.echo("\n".join(lines) if lines else "no orders")


@orders_group.command("return-payment")
@click.argument("reference")
@click.option("--note", default="", help="Why, for the order's timeline.")
@as_option
def orders_return_payment(reference, note, as_name):
    """Return a payment held in suspense (wrong amount) to the buyer; the order goes to refunding."""
    from escrow.lifecycle import refund_review
    who = cli_actor(as_name)

    def return_payment():
        with components().db.transaction() as session:
            order = refund_review(session, components().core, reference, note=note, actor=who.name)
            audit.record(session, who, "payment_returned", order_reference=order.reference, reason=note or None,
                         before={"state": "needs_review"}, after={"state": order.state})
            return order.state
    click.echo(f"{reference} {_run(return_payment)}")


disputes_group = AppGroup("disputes", help="Settle disputes.")


@disputes_group.command("resolve")
@click.argument("reference")
@click.option("--release", "outcome", flag_value="release", help="Pay the seller as if delivered.")
@click.option("--refund", "outcome", flag_value="refund", help="Refund the buyer in full.")
@click.option("--split", "to_seller", type=int, default=None, help="The seller's share of the price in KES, "
              "before the fee (a seller-pays fee comes out of it); the buyer gets back the rest of the price.")
@click.option("--note", required=True, help="The decision's reason; recorded in the timeline.")
@as_option
def disputes_resolve(reference, outcome, to_seller, note, as_name):
    """Resolve a disputed order; both parties are told by SMS. Audited under --as NAME."""
    if (outcome is None) == (to_seller is None):
        raise click.UsageError("give exactly one of --release, --refund or --split AMOUNT")
    outcome, who = outcome or "split", cli_actor(as_name)
    state = _run(lambda: components().service.resolve_dispute(reference, outcome=outcome, to_seller=to_seller,
                                                               note=note, actor=who.name,
                                                               audit=dispute_audit(who, outcome, note)))
    click.echo(f"{reference} {state}")


def _run(action):
    """Run an operator action; the core's refusals become a clear message and exit code 1."""
    try:
        return action()
    except EscrowError as error:
        raise click.ClickException(str(error)) from None


callbacks_group = AppGroup("callbacks", help="Provider callbacks as they were received.")


@callbacks_group.command("list")
@click.option("--status", "statuses", multiple=True, help="Only callbacks with this status (repeatable).")
@click.option("--source", "sources", multiple=True, help="Only from this route, e.g. stk, b2c_result, "
              "c2b_confirmation, sms_delivery (repeatable).")
@click.option("--review", is_flag=True, help="Only those with no money effect that may want a look: "
              + ", ".join(CALLBACKS_FOR_REVIEW) + ".")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def callbacks_list(statuses, sources, review, limit):
    """Stored callbacks, newest first, one line each (no bodies)."""
    with components().db.transaction() as session:
        lines = callback_list_report(session, statuses=tuple(statuses) + (CALLBACKS_FOR_REVIEW * review),
                                     sources=tuple(sources), limit=limit)
    click.echo("\n".join(lines) if lines else "no callbacks")


@callbacks_group.command("show")
@click.argument("callback_id", type=int)
@click.option("--reveal", is_flag=True, help="The body as it arrived, numbers and names in full (personal data).")
def callbacks_show(callback_id, reveal):
    """One stored callback and its body, numbers masked and names blanked unless --reveal."""
    def report():
        with components().db.transaction() as session:
            return callback_report(session, components().core, callback_id, reveal=reveal)
    click.echo("\n".join(_run(report)))


sms_group = AppGroup("sms", help="SMS sent or recorded.")


@sms_group.command("list")
@click.option("--to", "to", default=None, help="Only messages to this number.")
@click.option("--reveal", is_flag=True, help="Show full phone numbers (codes stay hidden).")
@click.option("--undelivered", is_flag=True, help="Only messages not delivered (queued, sending, sent without a "
              "delivery report, failed, undelivered) for longer than --older-than.")
@click.option("--older-than", "older_than", type=click.IntRange(min=0), default=None, metavar="MINUTES",
              help="With --undelivered: created at least this many minutes ago (default 30).")
def sms_list(to, reveal, undelivered, older_than):
    if older_than is not None and not undelivered:
        raise click.UsageError("--older-than goes with --undelivered")
    with components().db.transaction() as session:
        if undelivered:
            lines = undelivered_sms_report(session, components().core, to=to, reveal=reveal,
                                           older_than_minutes=30 if older_than is None else older_than)
        else:
            lines = sms_report(session, components().core, to=to, reveal=reveal)
    if undelivered and not lines:
        click.echo("no undelivered messages")
        return
    click.echo("\n".join(lines) if lines else "no messages")


ledger_group = AppGroup("ledger", help="The double-entry ledger.")


@ledger_group.command("check")
def ledger_check():
    """Verify the ledger; exits 1 on any violation (implausible amounts included); prints a
    WARNING for each unresolved anomaly (escrow/anomalies.py)."""
    from escrow.anomalies import ledger_anomalies
    from escrow.statement.balances import FloatSettings, balance_notes
    from escrow.statement.runs import completeness_notes

    zemi = components()
    with zemi.db.transaction() as session:
        violations, notes = ledger_findings(session)
        notes += completeness_notes(session)
        notes += balance_notes(session, zemi.settings.get("MPESA_B2C_SHORTCODE"), FloatSettings.from_mapping(zemi.settings))
        failures, warnings = ledger_anomalies(session)   # escrow/anomalies.py: which fail, which warn
    journal = zemi.service.intake.journal
    if journal is not None and journal.pending_files():
        warnings.append(f"{journal.pending_files()} callback journal file(s) in {journal.directory} wait to be "
                        f"replayed (callbacks kept while the database was away): is `flask worker` running here?")
    violations += failures
    for line in notes:
        click.echo(line)
    for line in warnings:
        click.echo(f"WARNING: {line}")
    for line in violations:
        click.echo(f"VIOLATION: {line}", err=True)
    click.echo("ledger OK" if not violations else f"{len(violations)} violation(s)")
    sys.exit(1 if violations else 0)


mpesa_group = AppGroup("mpesa", help="M-Pesa tools.")


@mpesa_group.command("simulate")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8001, type=int)
def mpesa_simulate(host, port):
    """Run the built-in Daraja simulator (what MPESA_BASE_URL points at by default)."""
    from mpesa.simulator import create_simulator

    from werkzeug.serving import run_simple

    run_simple(host, port, create_simulator(), threaded=True)  # app.run() is refused inside a flask command


@click.command("phone")
@click.option("--number", required=True, help="The phone number to dial from, e.g. 0712345678.")
@click.option("--url", default=None, help="The running service (default PUBLIC_BASE_URL).")
def phone_command(number, url):
    """A terminal feature phone: dial the USSD code and read this number's SMS."""
    from ussd.phone import run_phone

    settings = components().settings
    run_phone(url or settings["PUBLIC_BASE_URL"], number, settings.get("USSD_SERVICE_CODE", "*384*1234#"),
              sms_reader=_sms_reader())


def _sms_reader():
    """What the handset would show: the full texts of SMS to a number, opened from their seal."""
    from sqlalchemy import select

    from escrow.models import SmsMessage

    app = current_app._get_current_object()

    def read(number: str) -> list[str]:
        zemi = app.extensions["zemi"]
        with zemi.db.transaction() as session:
            rows = session.scalars(select(SmsMessage).where(
                SmsMessage.recipient_key == zemi.core.vault.phone_key(number)).order_by(SmsMessage.id))
            return [zemi.core.vault.unseal(row.body_sealed) for row in rows]
    return read


@click.command("embedded-redis")
@click.option("--url-file", default=None, help="Write the server's redis URL here once it is up.")
def embedded_redis_command(url_file):
    """Hold the embedded Redis server open for other processes (bin/serve uses it)."""
    import threading

    server = components().embedded_redis
    if server is None:
        raise click.ClickException("REDIS_URL is set: there is no embedded server to hold")
    url = f"unix://{server.socket_file}"
    if url_file:
        with open(url_file, "w") as handle:
            handle.write(url)
    click.echo(f"embedded Redis at {url}")
    _stop_on_signal(lambda: _stop_redis_server(server))   # bin/serve sends SIGTERM once the rest has stopped
    threading.Event().wait()


def _stop_redis_server(server) -> None:
    import os
    import signal

    try:
        server.shutdown(save=True, now=True, force=True)
    except Exception:  # noqa: BLE001 -- the server closes our connection as it stops
        pass
    try:
        os.kill(server.pid, signal.SIGTERM)
    except (OSError, TypeError):
        pass


def _stop_on_signal(stop) -> None:
    """SIGTERM (and SIGINT, unless ignored as bin/serve's background jobs have it) runs `stop` and exits:
    a signal's default action would skip every clean-up."""
    import signal

    def handle(_signum, _frame):
        try:
            stop()
        finally:
            raise SystemExit(0)
    signal.signal(signal.SIGTERM, handle)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, handle)


@click.group("reconcile", cls=AppGroup, invoke_without_command=True)
@click.option("--findings", "show_findings", is_flag=True, help="Also list every open finding.")
@click.option("--all", "show_all", is_flag=True, help="List resolved findings too (implies --findings).")
@click.pass_context
@with_appcontext
def reconcile_command(ctx, show_findings, show_all):
    """One reconciliation pass now: query stale STK attempts and unknown payouts, re-match orphan
    callbacks, confirm held successes, retry definitely failed payouts; then list what needs review.
    `reconcile resolve ID --note ...` closes a finding."""
    if ctx.invoked_subcommand is not None:
        return
    from escrow.findings import list_findings

    zemi = components()
    report = zemi.reconciler.run()
    click.echo(f"reconcile: {report}")
    with zemi.db.transaction() as session:
        findings = list_findings(session, include_resolved=show_all)
    open_count = sum(1 for finding in findings if finding["status"] == "open")
    click.echo(f"{open_count} open finding(s) for review")
    if show_findings or show_all:
        for finding in findings:
            resolved = (f" -- resolved {_eat_of(finding['resolved_at'])}: {finding.get('resolution')}"
                        if finding["status"] != "open" else "")
            click.echo(f"  #{finding['id']} {eat_text(finding['at'])} [{finding.get('kind')}] "
                       f"order {finding.get('order') or '-'}: {finding.get('summary')}{resolved}")


def _eat_of(stored) -> str:
    """A finding's resolved_at, kept as text in its JSON body (naive UTC), in EAT."""
    from datetime import datetime
    try:
        return eat_text(datetime.fromisoformat(str(stored)))
    except ValueError:
        return str(stored)


WHEN = click.DateTime(["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"])


@reconcile_command.command("statement")
@click.option("--from", "start", type=WHEN, help="Window start, UTC (default: where the last complete run ended, "
                                                "less STATEMENT_OVERLAP_SECONDS).")
@click.option("--to", "end", type=WHEN, help="Window end, UTC (default: now less STATEMENT_SETTLE_SECONDS).")
@click.option("--csv", "csv_file", type=click.File("rb"), help="Reconcile the org portal's statement export instead.")
@click.option("--shortcode", help="The shortcode the --csv export is of.")
def reconcile_statement(start, end, csv_file, shortcode):
    """Reconcile M-Pesa's statement (Pull Transactions, or a portal export with --csv) for a window: match
    every line to a payment and every payment to a line, post what we never recorded, record the run."""
    if (start is None) != (end is None) or (start and start >= end):
        raise click.UsageError("give both --from and --to, --from before --to (or neither)")
    if bool(csv_file) != bool(shortcode):
        raise click.UsageError("--csv and --shortcode go together")
    statement = components().reconciler.statement
    if csv_file:
        from mpesa.statement_csv import StatementFileError, read_portal_csv
        try:
            entries = read_portal_csv(csv_file.read(), shortcode)
        except StatementFileError as error:
            raise click.ClickException(str(error))
        summaries = [_run(lambda: statement.import_lines(shortcode, entries, start, end))]
    else:
        summaries = _run(lambda: statement.run(start, end))
    for summary in summaries:
        click.echo(f"statement {summary}")
    sys.exit(0 if all(summary.status == "complete" for summary in summaries) else 1)


@reconcile_command.command("resolve")
@click.argument("finding_id", type=int)
@click.option("--note", required=True, help="What was done about it; kept with the finding.")
@as_option
def reconcile_resolve(finding_id, note, as_name):
    """Mark finding FINDING_ID resolved with a note; `reconcile --findings` stops listing it. Audited."""
    from escrow.findings import resolve_finding
    who = cli_actor(as_name)

    def resolve():
        with components().db.transaction() as session:
            finding = resolve_finding(session, finding_id, note)
            finding_audit(session, who, finding, note)
            return finding
    finding = _run(resolve)
    click.echo(f"finding #{finding_id} resolved ({finding.get('kind')}, order {finding.get('order') or '-'})")


@mpesa_group.command("balance")
@click.option("--no-query", is_flag=True, help="Only show the answers stored so far; ask M-Pesa nothing.")
def mpesa_balance(no_query):
    """Ask M-Pesa for every shortcode's balance (the answers arrive at our result URL and are stored),
    then show the latest stored answer of each and the float comparison."""
    from sqlalchemy import func, select

    from escrow.statement.balances import FloatSettings, balance_notes
    from escrow.models import AccountBalance

    zemi = components()
    if not no_query:
        asked = zemi.reconciler.balance.query_all()
        click.echo(f"asked for the balance of {', '.join(asked) or 'no shortcode'}; answers arrive asynchronously")
    with zemi.db.transaction() as session:
        latest = session.scalars(select(AccountBalance).where(AccountBalance.id.in_(
            select(func.max(AccountBalance.id)).group_by(AccountBalance.shortcode, AccountBalance.account)))
            .order_by(AccountBalance.shortcode, AccountBalance.account)).all()
        for row in latest:
            click.echo(f"  {row.shortcode} {row.account}: {row.currency} {row.available_cents / 100:,.2f} "
                       f"(stored {eat_text(row.created_at, seconds=False)})")
        for line in balance_notes(session, zemi.settings.get("MPESA_B2C_SHORTCODE"), FloatSettings.from_mapping(zemi.settings)):
            click.echo(line)


@mpesa_group.command("opening-balance")
@click.option("--shortcode", required=True, help="The shortcode (paybill, till or B2C).")
@click.option("--amount", required=True, type=click.IntRange(min=0), help="Whole KES it held when our books began.")
def mpesa_opening_balance(shortcode, amount):
    """Record once what a shortcode held before Zemi's books began, so its cash account can equal
    M-Pesa's balance (escrow/statement/shortcode_cash.py); later money in and out comes from the statement."""
    from escrow.statement.shortcode_cash import post_opening_balance

    def post():
        with components().db.transaction() as session:
            return post_opening_balance(session, shortcode, amount)
    if not _run(post):
        raise click.ClickException(f"{shortcode} already has an opening balance; a correction is a journal "
                                   f"matter for a person, not a second opening")
    click.echo(f"opening balance of {shortcode}: KES {amount:,} (Dr mpesa_cash:{shortcode}, Cr mpesa_transfers)")


@mpesa_group.command("register-pull")
@click.option("--nominated-number", required=True, help="The Safaricom number nominated for the organisation.")
def mpesa_register_pull(nominated_number):
    """Register our shortcodes for Pull Transactions (statement reconciliation; once per shortcode)."""
    from mpesa.errors import DarajaError
    from mpesa.statement import PullTransactions

    gateway = components().gateway
    for shortcode in gateway.statement_shortcodes():
        try:
            answer = PullTransactions(gateway.client).register(
                shortcode=shortcode, nominated_number=nominated_number, callback_url=gateway.url("pull"))
        except (DarajaError, ValueError) as error:
            raise click.ClickException(f"registration of {shortcode} refused: {error}")
        click.echo(f"Pull Transactions for {shortcode}: {answer.get('ResponseDescription')}")


@mpesa_group.command("register-urls")
@click.option("--response-type", type=click.Choice(["Completed", "Cancelled"]), default="Completed",
              help="What M-Pesa does when our validation URL cannot be reached in time.")
@click.option("--version", "api_version", type=click.Choice(["v1", "v2"]), default="v1",
              help="Must match the C2B product on the Daraja app (v2 hashes the payer's number).")
def mpesa_register_urls(response_type, api_version):
    """Register the paybill's validation and confirmation URLs (under PUBLIC_BASE_URL) with Daraja."""
    from mpesa.errors import DarajaError

    gateway = components().gateway
    validation, confirmation = gateway.c2b_urls()
    try:
        accepted = gateway.register_c2b_urls(response_type=response_type, version=api_version)
    except (DarajaError, ValueError) as error:
        raise click.ClickException(f"registration refused: {error}")
    click.echo(f"registered C2B URLs for shortcode {gateway.c2b_shortcode} ({accepted.response_description})")
    for name, url in (("validation", validation), ("confirmation", confirmation)):
        click.echo(f"  {name}: {url.rsplit('/', 1)[0]}/<CALLBACK_TOKEN>")


operators_group = AppGroup("operators", help="Named accounts for the web console (/console).")


def _accounts():
    from console import Accounts, ConsoleSettings

    zemi = components()
    return Accounts(zemi.db, zemi.core.vault, ConsoleSettings.from_mapping(zemi.settings))


def _shell_actor():
    import getpass

    from escrow.audit import Actor
    return Actor("cli", "admin", f"shell:{getpass.getuser()}"[:64])


@operators_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "agent", "admin"]), required=True,
              help="viewer: reads, numbers masked; agent: acts on disputes and findings; admin: also operators.")
def operators_add(name, role):
    """Create an operator and print their one-time enrolment link (password, and TOTP for agents/admins)."""
    from console.errors import ConsoleError

    try:
        enrolment = _accounts().add(name, role, by=_shell_actor())
    except ConsoleError as error:
        raise click.ClickException(str(error)) from None
    base = components().settings.get("PUBLIC_BASE_URL", "").rstrip("/")
    click.echo(f"operator {enrolment.name} ({enrolment.role}) added; within {_accounts().settings.enrol_hours} h "
               f"they open {base}/console/enrol and type this one-time enrolment code:\n{enrolment.token}")


@operators_group.command("disable")
@click.argument("name")
def operators_disable(name):
    """Disable an operator now; their sessions end."""
    from console.errors import ConsoleError

    try:
        _accounts().disable(name, by=_shell_actor())
    except ConsoleError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"operator {name} disabled")
