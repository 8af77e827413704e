"""The ordinary USSD hop answered before Flask (issue 13): Flask's request machinery and its hooks cost
about as much CPU as the hop itself.

`answer_before_flask(app, count)` puts a WSGI callable in front of `app.wsgi_app`. It answers one kind of
request itself, the kind every hop of a session is: POST /ussd (or /ussd/<token> when USSD_PATH_TOKEN is
set, the right token) from an allowed caller, a form-encoded body with a Content-Length within the
blueprint's limit, carrying sessionId and phoneNumber. It answers it as the blueprint's view would (the
same Conversation, so the same reply, status 200, text/plain, the at-ussd-hop-metadata header) and counts
it as the app's hooks would (`count(screen, end, seconds)`: observability.ussd_hop_counter). Anything
else goes to Flask untouched (a body already read is handed on as read), so every refusal (400, 403, 404,
413 and its polite END), the events route and every other route behave exactly as before.

It stands in for the app-wide request hooks it knows (STANDS_IN_FOR: the body limit, which it applies by
handing larger or unmeasured bodies to Flask, and the two metrics hooks, which `count` does). If the app
has any other before/after/teardown hook for the USSD route, the lane stays out of the way and says so
in the log once: a hook added later is never silently skipped.
"""
import io
import logging
import time
from urllib.parse import parse_qsl

from ussd.routes import MAX_BODY_BYTES, _hop, refusal

log = logging.getLogger("ussd")

FORM = "application/x-www-form-urlencoded"
HEADERS = "text/plain; charset=utf-8"
# The app-wide hooks whose work the lane does itself, by qualified name (app.py, observability.py,
# console/metrics.py). A renamed one makes the lane stand aside: slower, never different.
STANDS_IN_FOR = frozenset({
    "limit_request_bodies.<locals>.refuse_large_bodies",   # bodies past the limit or unmeasured go to Flask
    "observe_ussd_hops.<locals>.hop_started", "observe_ussd_hops.<locals>.hop_answered",   # `count`
    "make_metrics_blueprint.<locals>.started", "make_metrics_blueprint.<locals>.counted",  # `count`
})


def answer_before_flask(app, count=None, blueprint: str = "ussd") -> "UssdLane":
    """Put the lane in front of `app` (which has the USSD blueprint registered); returns it."""
    lane = UssdLane(app, app.wsgi_app, app.blueprints[blueprint], count, blueprint)
    app.wsgi_app = lane
    return lane


class UssdLane:
    def __init__(self, app, flask_wsgi, blueprint, count, name: str = "ussd"):
        self.app, self.flask, self.count, self.name = app, flask_wsgi, count, name
        self.conversation, self.settings = blueprint.conversation, blueprint.ussd_settings
        self.max_body = getattr(blueprint, "max_body_bytes", MAX_BODY_BYTES)
        self.token = self.settings.path_token
        self._open = None   # decided at the first request, when every hook is registered

    def __call__(self, environ, start_response):
        token = self._path_token(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "POST" or token is None:
            return self.flask(environ, start_response)
        if self._open is None:
            self._open = self._hooks_known()
        if not self._open or self._refused(environ, token) or not self._ordinary_body(environ):
            return self.flask(environ, start_response)
        began = time.perf_counter()
        try:
            length = int(environ["CONTENT_LENGTH"])
            body = environ["wsgi.input"].read(length) if length else b""
        except (OSError, ValueError):
            return self.flask(environ, start_response)
        hop = self._read_hop(body, length)
        if hop is None:   # Flask gets the very bytes read, and answers as it always did (400)
            environ["wsgi.input"] = io.BytesIO(body)
            return self.flask(environ, start_response)
        answer = self.conversation.answer(hop)
        reply = answer.reply.body.encode()
        start_response("200 OK", [("at-ussd-hop-metadata", answer.screen), ("Content-Type", HEADERS),
                                  ("Content-Length", str(len(reply)))])
        if self.count is not None:
            self._count(answer, time.perf_counter() - began)
        return [reply]

    def _path_token(self, path: str) -> str | None:
        """"" for /ussd when no token is set; the token part of /ussd/<token> when one is (checked, in
        constant time, by `_refused`); None for any other path (/ussd/events included)."""
        if not self.token:
            return "" if path == "/ussd" else None
        given = path[6:] if path.startswith("/ussd/") else ""
        return given if given and given.isascii() and "/" not in given and given != "events" else None

    def _refused(self, environ, token: str) -> bool:
        if not self.settings.allowed_ips and not self.token:
            return False
        return refusal(self.settings, token or None, environ.get("HTTP_X_FORWARDED_FOR", ""),
                       environ.get("REMOTE_ADDR")) is not None

    def _ordinary_body(self, environ) -> bool:
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM:
            return False
        length = environ.get("CONTENT_LENGTH", "")
        return length.isdigit() and int(length) <= self.max_body

    @staticmethod
    def _read_hop(body: bytes, length: int):
        """AT's form as Flask reads it (the first of repeated fields), or None where Flask would refuse it."""
        if len(body) != length:
            return None
        try:
            items = parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
        except ValueError:
            return None
        form = {}
        for name, value in items:
            form.setdefault(name, value)
        hop = _hop(form)
        return hop if hop.session_id and hop.phone else None

    def _count(self, answer, seconds: float) -> None:
        try:
            self.count(answer.screen, answer.reply.end, seconds)
        except Exception as exc:  # noqa: BLE001 - a metric must not fail a hop that is already done
            log.warning("ussd hop not counted: %s", type(exc).__name__)

    def _hooks_known(self) -> bool:
        app, unknown = self.app, []
        for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs,
                      app.url_value_preprocessors):
            for scope in (None, self.name):
                unknown += [hook for hook in hooks.get(scope, ()) if hook.__qualname__ not in STANDS_IN_FOR]
        if unknown:
            log.warning("USSD hops go through Flask: the lane does not know the hook(s) %s",
                        ", ".join(sorted(hook.__qualname__ for hook in unknown)))
        return not unknown
