"""The operators' web console (issue 15): an adapter over the core's use cases, with named accounts,
an audit trail, and nothing loaded from outside the service.

`make_console_blueprint(...)` is all app.py needs; `console.health` adds /livez and /readyz."""
from console.accounts import Accounts
from console.settings import ConsoleSettings
from console.web import Console, make_blueprint


def make_console_blueprint(service, db, core, env, redis_client=None):
    """The /console blueprint over `service` (EscrowService), its database and core, read from `env`
    (`redis_client`: where the worker's heartbeat is, for the alerts page)."""
    from console import actions, approvals, auth_views, desks, erasure_views, operations, pages, webhook_views
    from console.health import heartbeat_age
    from escrow.alerts import AlertSettings

    settings = ConsoleSettings.from_mapping(env)
    console = Console(service=service, db=db, core=core, accounts=Accounts(db, core.vault, settings),
                      settings=settings, on_call=len(AlertSettings.from_mapping(env).phones),
                      heartbeat=(lambda: heartbeat_age(redis_client)) if redis_client is not None else None)
    bp = make_blueprint(console)
    for views in (auth_views, pages, actions, approvals, desks, operations, erasure_views, webhook_views):   # erasure: escrow/privacy
        views.register(bp, console)
    return bp


__all__ = ["Accounts", "ConsoleSettings", "make_console_blueprint"]
