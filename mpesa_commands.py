"""`flask mpesa ...` and `flask callbacks ...`: M-Pesa's side of the books (the simulator, shortcode
balances, the opening balance, registering our URLs with Daraja) and the provider callbacks as received."""
import click
from flask.cli import AppGroup

from commands import components, run
from escrow.reports import CALLBACKS_FOR_REVIEW, callback_list_report, callback_report, eat_text

mpesa_group = AppGroup("mpesa", help="M-Pesa tools.")
callbacks_group = AppGroup("callbacks", help="Provider callbacks as they were received.")


@mpesa_group.command("simulate")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8001, type=int)
def mpesa_simulate(host, port):
    """Run the built-in Daraja simulator (what MPESA_BASE_URL points at by default)."""
    from mpesa.simulator import create_simulator

    from werkzeug.serving import run_simple

    run_simple(host, port, create_simulator(), threaded=True)  # app.run() is refused inside a flask command


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
    if not run(post):
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
    click.echo("\n".join(run(report)))
