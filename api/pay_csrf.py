"""The pay page's form against cross-site requests, without JavaScript (a cheap phone's browser).

A double-submit token bound to a cookie: the first view sets `zemi_pay` (random, HttpOnly,
SameSite=Lax, Secure behind https, path /p/), and the form carries an HMAC of that cookie and the
link. A post counts only with the cookie, the field that matches it for this link, and no
`Sec-Fetch-Site: cross-site`. Another site can neither read the cookie nor compute the field."""
import hmac
import secrets

from flask import request

COOKIE = "zemi_pay"
FIELD = "csrf"
COOKIE_SECONDS = 7 * 86400


def browser_id() -> tuple[str, bool]:
    """(this browser's id, whether it is new and must be set as a cookie)."""
    known = request.cookies.get(COOKIE, "")
    if 16 <= len(known) <= 64 and known.replace("-", "").replace("_", "").isalnum():
        return known, False
    return secrets.token_urlsafe(16), True


def form_token(vault, browser: str, link_token: str) -> str:
    return vault.sign(f"pay-form:{browser}:{link_token}")[:32]


def post_is_genuine(vault, link_token: str) -> bool:
    if request.headers.get("Sec-Fetch-Site", "") == "cross-site":
        return False
    browser = request.cookies.get(COOKIE, "")
    given = request.form.get(FIELD, "")
    return bool(browser and given) and hmac.compare_digest(given, form_token(vault, browser, link_token))


def set_cookie(response, browser: str, secure: bool) -> None:
    response.set_cookie(COOKIE, browser, max_age=COOKIE_SECONDS, path="/p/", secure=secure, httponly=True,
                        samesite="Lax")
