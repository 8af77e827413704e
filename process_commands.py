"""`flask worker`, `flask phone`, `flask embedded-redis`: the processes that run beside the web app
(bin/serve starts the worker and holds the embedded Redis; the phone is a terminal handset)."""
import click
from flask import current_app

from commands import components


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
