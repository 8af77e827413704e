"""`flask data purge` and `flask data erase`: the personal-data commands (escrow/privacy), thin wrappers."""
import click
from flask.cli import AppGroup

from commands import components

data_group = AppGroup("data", help="Personal data: the retention purge and erasing a number.")


def forgetter(zemi):
    """The erasure's Redis port (redis_forget.py) for these components."""
    from redis_forget import redis_forgetter
    return redis_forgetter(zemi.redis, zemi.settings["SECRET_KEY"])


@data_group.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would be purged now.")
def data_purge(dry_run):
    """Purge personal data past its RETENTION_* time now (the worker does it every RETENTION_EVERY_SECONDS)."""
    from escrow.privacy.retention import STEPS, purge
    from escrow.privacy.settings import RetentionSettings

    zemi = components()
    settings = RetentionSettings.from_mapping(zemi.settings)
    counts = purge(zemi.db, zemi.core, settings, dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    for name in STEPS:
        click.echo(f"{name}: {verb} {counts[name]}")
    click.echo(f"{verb} {sum(counts.values())} rows (sms {settings.sms_days} d, callbacks {settings.callback_days} d, "
               f"numbers {settings.numbers_days} d after final, audit {settings.audit_days} d)")


@data_group.command("erase")
@click.argument("number")
@click.option("--reason", required=True, help="Why (the person's request, its date and channel); audited.")
def data_erase(number, reason):
    """Erase NUMBER (07..., 2547...): its orders stay, the number becomes unreadable. With an order in
    progress the request is recorded and carried out when the last such order is final."""
    from escrow.errors import InvalidPhoneNumber
    from escrow.phone import mask, normalize_msisdn
    from escrow.privacy.erasure import erase, request_erasure
    from operator_commands import shell_actor

    try:
        phone = normalize_msisdn(number)
    except InvalidPhoneNumber as error:
        raise click.BadParameter(str(error), param_hint="NUMBER") from None
    zemi, actor = components(), shell_actor()
    with zemi.db.transaction() as session:
        request_id = request_erasure(session, zemi.core, phone, source="cli", actor=actor, reason=reason)
    outcome = erase(zemi.db, zemi.core, request_id, forgetter(zemi), actor=actor)
    if not outcome.done:
        click.echo(f"erasure #{request_id} of {mask(phone)} deferred: {len(outcome.open_orders)} order(s) in progress "
                   f"({', '.join(outcome.open_orders)}); the worker erases the number when the last is final")
        return
    click.echo(f"erasure #{request_id}: {mask(phone)} erased")
    for name, count in sorted(outcome.counts.items()):
        click.echo(f"  {name}: {count}")
