"""`flask db`, `flask keys reseal`, `flask operators`: looking after the installation itself (its schema,
the data key sealing personal data at rest, the web console's named accounts)."""
import sys

import click
from flask.cli import AppGroup

from commands import components
from escrow import migrate
from operator_commands import shell_actor

db_group = AppGroup("db", help="Database migrations (Alembic).")
keys_group = AppGroup("keys", help="The data key (DATA_KEY) sealing personal data at rest.")
operators_group = AppGroup("operators", help="Named accounts for the web console (/console).")


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


def _accounts():
    from console import Accounts, ConsoleSettings

    zemi = components()
    return Accounts(zemi.db, zemi.core.vault, ConsoleSettings.from_mapping(zemi.settings))


@operators_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "agent", "admin"]), required=True,
              help="viewer: reads, numbers masked; agent: acts on disputes and findings; admin: also operators.")
def operators_add(name, role):
    """Create an operator and print their one-time enrolment link (password, and TOTP for agents/admins)."""
    from console.errors import ConsoleError

    try:
        enrolment = _accounts().add(name, role, by=shell_actor())
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
        _accounts().disable(name, by=shell_actor())
    except ConsoleError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"operator {name} disabled")
