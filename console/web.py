"""The console blueprint's plumbing: who is signed in, CSRF on every form, security headers, cookies."""
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import wraps

from flask import Blueprint, g, redirect, render_template, request, url_for

from console.accounts import RESERVED, Accounts
from console.errors import BadRequest, ConsoleError, Forbidden
from console.roles import may, require
from console.settings import ConsoleSettings
from escrow.audit import Actor
from escrow.desk import EAT

COOKIE = "zemi_console"
PRE_COOKIE = "zemi_console_pre"      # before sign-in: the anchor of the sign-in and enrolment forms' tokens
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


@dataclass
class Console:
    service: object            # escrow.service.EscrowService
    db: object
    core: object
    accounts: Accounts
    settings: ConsoleSettings
    on_call: int = 0           # how many ALERT_PHONES numbers alerts go to
    heartbeat: object = None   # () -> seconds since the worker's last pass, or None


def make_blueprint(console: Console) -> Blueprint:
    bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                   static_folder="static", static_url_path="/static")
    bp.max_body_bytes = 16 * 1024
    hide_enrolment_codes_in_access_logs()
    bp.before_request(lambda: _load_operator(console))
    bp.after_request(lambda response: _harden(response, console.settings))
    bp.app_template_filter("eat")(eat)
    bp.app_template_global("may")(lambda action: g.get("operator") is not None and may(g.operator.role, action))
    bp.app_template_global("party_actors")(RESERVED)   # the core's own actor words; operator names are not these
    bp.app_template_global("approval_above")(console.settings.approval_above)
    bp.app_template_global("finding_meaning")(_finding_meaning)
    bp.register_error_handler(ConsoleError, _refusal)
    return bp


class _HideEnrolmentCodes(logging.Filter):
    """An enrolment link's code is a one-time secret: access log lines show it as ***."""
    PATTERN = re.compile(r"(/console/enrol/)[A-Za-z0-9_\-]+")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 -- a malformed record is logging's business
            return True
        if "/console/enrol/" in message:
            record.msg, record.args = self.PATTERN.sub(r"\1***", message), ()
        return True


_HIDE_CODES = _HideEnrolmentCodes()


def hide_enrolment_codes_in_access_logs() -> None:
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if _HIDE_CODES not in logger.filters:
            logger.addFilter(_HIDE_CODES)


def _finding_meaning(dedupe_key: str) -> str:
    """A finding row's kind (its key is finding:<kind>:...) in words, with what to do."""
    from console.finding_kinds import meaning
    parts = (dedupe_key or "").split(":")
    about, todo = meaning(parts[1] if len(parts) > 2 else None)
    return f"{parts[1] if len(parts) > 2 else 'finding'}: {about} {todo}"


def eat(moment: datetime | None) -> str:
    """A naive-UTC time from the database as Nairobi time, labelled."""
    return "-" if moment is None else f"{moment + EAT:%Y-%m-%d %H:%M} EAT"


def _load_operator(console: Console):
    g.console = console
    g.operator = g.csrf = None
    if request.endpoint in ("console.static",):
        return None
    found = console.accounts.session_for(request.cookies.get(COOKIE))
    if found:
        g.operator, row = found
        g.csrf = row.csrf
    if request.method == "POST":
        _check_csrf()
    return None


def _check_csrf() -> None:
    expected = g.csrf or pre_token()
    given = request.form.get("csrf", "")
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise BadRequest("this form has expired or did not come from the console: reload the page and try again")


def pre_token() -> str | None:
    """The CSRF token of the forms shown before sign-in, bound to the pre-session cookie."""
    anchor = request.cookies.get(PRE_COOKIE) or g.get("new_pre")
    return g.console.core.vault.sign(f"console-pre:{anchor}") if anchor else None


def ensure_pre_cookie() -> None:
    if not request.cookies.get(PRE_COOKIE):
        g.new_pre = secrets.token_urlsafe(24)


def signed_in(action: str = "read"):
    """The view needs a live session, and a role allowed `action`."""
    def wrap(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if g.operator is None:
                return redirect(url_for("console.login"))
            require(g.operator.role, action)
            return view(*args, **kwargs)
        return guarded
    return wrap


def actor() -> Actor:
    return Actor(g.operator.name, g.operator.role, client_addr())


def client_addr() -> str | None:
    if g.console.settings.trust_proxy and request.access_route:
        return request.access_route[-1]
    return request.remote_addr


def page(template: str, status: int = 200, **values):
    return render_template(f"console/{template}", operator=g.get("operator"), csrf=g.get("csrf") or pre_token(),
                           **values), status


def _refusal(error: ConsoleError):
    status = 403 if isinstance(error, Forbidden) else 400
    before_sign_in = ("console.login", "console.enrol", "console.enrol_link")
    if g.get("operator") is None and status == 400 and request.endpoint not in before_sign_in:
        status = 403
    return page("refused.html", status=status, message=str(error))


def _harden(response, settings: ConsoleSettings):
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.endpoint != "console.static":
        headers["Cache-Control"] = "no-store"
    if settings.secure_cookies or request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if g.get("new_pre"):
        set_cookie(response, PRE_COOKIE, g.new_pre, settings)
    return response


def set_cookie(response, name: str, value: str, settings: ConsoleSettings, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", secure=settings.secure_cookies,
                        httponly=True, samesite="Strict")

