"""`flask apikeys ...` and `flask webhooks ...`: integrations' keys and webhook endpoints."""
import sys

import click
from flask import current_app
from flask.cli import AppGroup

apikeys_group = AppGroup("apikeys", help="API keys of integrations using the JSON API (/v1).")
webhooks_group = AppGroup("webhooks", help="Webhook endpoints of integrations, and their deliveries.")


def _zemi():
    return current_app.extensions["zemi"]


@apikeys_group.command("create")
@click.argument("name")
@click.option("--scopes", required=True,
              help="Comma list of: verifications, orders:read, orders:write, payment_links.")
def apikeys_create(name, scopes):
    """A new key for integration NAME, printed once (only its hash is kept)."""
    from api.keys import UnknownScope, create_key

    try:
        key = create_key(_zemi().db, name, [scope.strip() for scope in scopes.split(",") if scope.strip()])
    except UnknownScope as error:
        raise click.BadParameter(str(error), param_hint="--scopes") from None
    click.echo(key)
    click.echo("Keep it now: it is not shown again.", err=True)


@apikeys_group.command("revoke")
@click.argument("prefix")
def apikeys_revoke(prefix):
    """Revoke the key whose prefix (zk_xxxxxxxx, as `apikeys list` shows) is PREFIX."""
    from api.keys import revoke_key

    if not revoke_key(_zemi().db, prefix):
        click.echo(f"no live key {prefix}", err=True)
        sys.exit(1)
    click.echo(f"revoked {prefix}")


@apikeys_group.command("list")
def apikeys_list():
    """Every key: prefix, integration, scopes, created, revoked."""
    from api.keys import list_keys

    for key in list_keys(_zemi().db):
        revoked = f" revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
        click.echo(f"{key.prefix} {key.name} [{key.scopes}] created {key.created_at:%Y-%m-%d %H:%M}{revoked}")


@webhooks_group.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--events", default="", help="Comma list of order events (default: all of them).")
def webhooks_add(name, url, events):
    """Send integration NAME's order events to URL; prints the signing secret once (whsec_...)."""
    from api.webhooks import EVENT_TYPES, add_endpoint

    wanted = [event.strip() for event in events.split(",") if event.strip()] or list(EVENT_TYPES)
    try:
        endpoint_id, secret = add_endpoint(_zemi().db, _zemi().core, name, url, wanted)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    click.echo(f"endpoint {endpoint_id}")
    click.echo(secret)


@webhooks_group.command("disable")
@click.argument("endpoint_id", type=int)
def webhooks_disable(endpoint_id):
    """Stop sending to endpoint ENDPOINT_ID (deliveries already queued still go)."""
    from api.webhooks import disable_endpoint

    if not disable_endpoint(_zemi().db, endpoint_id):
        click.echo(f"no endpoint {endpoint_id}", err=True)
        sys.exit(1)
    click.echo(f"disabled {endpoint_id}")


@webhooks_group.command("list")
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=50, show_default=True)
def webhooks_list(limit):
    """Endpoints, then the latest deliveries with their attempts and last answer."""
    from escrow.webhook_log import endpoints, recent_deliveries

    for endpoint in endpoints(_zemi().db):
        state = " disabled" if endpoint.disabled else ""
        click.echo(f"endpoint {endpoint.id} {endpoint.integration} {endpoint.url} [{endpoint.events}]{state}")
    for delivery, integration, url in recent_deliveries(_zemi().db, limit):
        answer = delivery.last_status or delivery.last_error or "-"
        click.echo(f"delivery msg_{delivery.id} {delivery.event_type} to {integration} {delivery.status} "
                   f"attempts={delivery.attempts} last={answer} order {_reference(delivery)}")


@webhooks_group.command("show")
@click.argument("delivery")
def webhooks_show(delivery):
    """One delivery (msg_N or N, as `webhooks list` shows it): its event, endpoint, and every attempt
    with its time (East Africa Time), the endpoint's answer and how long it took."""
    from escrow.webhook_log import delivery_with_attempts

    number = delivery.removeprefix("msg_")
    found = delivery_with_attempts(_zemi().db, int(number)) if number.isdigit() and len(number) < 12 else None
    if found is None:
        click.echo(f"no delivery {delivery}", err=True)
        sys.exit(1)
    row, endpoint, attempts = found
    click.echo(f"delivery msg_{row.id} {row.event_type} order {_reference(row)}: {row.status}")
    click.echo(f"endpoint {endpoint.id} {endpoint.integration} {endpoint.url}")
    click.echo(f"queued {_eat(row.created_at)}" + (f", delivered {_eat(row.delivered_at)}" if row.delivered_at else ""))
    for attempt in attempts:
        click.echo(f"  attempt {attempt.number} {_eat(attempt.at)} -> {attempt.status or attempt.error or '-'} "
                   f"({attempt.duration_ms} ms)")
    if not attempts:
        click.echo("  no attempt yet")


def _reference(delivery) -> str:
    from escrow.webhook_log import order_reference
    return order_reference(delivery)


def _eat(moment) -> str:
    from datetime import timezone

    from escrow.catalog import EAST_AFRICA
    return moment.replace(tzinfo=moment.tzinfo or timezone.utc).astimezone(EAST_AFRICA).strftime("%Y-%m-%d %H:%M:%S EAT")
