"""Sign-in, sign-out and enrolment pages."""
import segno
from flask import g, redirect, request, url_for
from markupsafe import Markup

from console.errors import ConsoleError
from console.web import COOKIE, Console, client_addr, ensure_pre_cookie, page, set_cookie


def register(bp, console: Console) -> None:
    @bp.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "GET":
            if g.operator is not None:
                return redirect(url_for("console.overview"))
            ensure_pre_cookie()
            return page("login.html")
        try:
            signed = console.accounts.sign_in(request.form.get("name", ""), request.form.get("password", ""),
                                              request.form.get("code", ""), client_addr())
        except ConsoleError as refused:
            ensure_pre_cookie()
            return page("login.html", status=401, message=str(refused), name=request.form.get("name", "")[:12])
        response = redirect(url_for("console.overview"))
        set_cookie(response, COOKIE, signed.session_id, console.settings,
                   max_age=console.settings.session_hours * 3600)
        return response

    @bp.route("/logout", methods=["POST"])
    def logout():
        console.accounts.sign_out(request.cookies.get(COOKIE), client_addr())
        response = redirect(url_for("console.login"))
        response.delete_cookie(COOKIE, path="/console")
        return response

    @bp.route("/enrol/<token>")
    def enrol_link(token):
        """The link `flask operators add` prints (its token is hidden in access logs: console.web)."""
        operator, uri = console.accounts.pending_enrolment(token)
        ensure_pre_cookie()
        return page("enrol.html", who=operator, uri=uri, qr=_qr(uri), token=token)

    @bp.route("/enrol", methods=["GET", "POST"])
    def enrol():
        """The enrolment code is typed (or pasted) into a form, never put in a URL: URLs reach access logs."""
        if request.method == "GET":
            ensure_pre_cookie()
            return page("enrol_code.html")
        token = request.form.get("token", "").strip()[:64]
        operator, uri = console.accounts.pending_enrolment(token)
        if "password" not in request.form:
            return page("enrol.html", who=operator, uri=uri, qr=_qr(uri), token=token)
        try:
            console.accounts.enrol(token, request.form.get("password", ""), request.form.get("again", ""),
                                   request.form.get("code", ""), client_addr())
            return redirect(url_for("console.login", enrolled=1))
        except ConsoleError as refused:
            return page("enrol.html", status=400, who=operator, uri=uri, qr=_qr(uri), token=token, message=str(refused))

def _qr(uri: str | None):
    """The otpauth URI as an SVG QR code, drawn here (no script, no outside service)."""
    if not uri:
        return None
    return Markup(segno.make(uri, error="m").svg_inline(scale=4, border=2, dark="#111", light="#fff"))
