"""The app with the JSON API on the test database and Redis, driven through Flask's test client."""
import itertools
import re

import pytest
from sqlalchemy import select

from app import create_app
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY

BUYER, SELLER = "0712345678", "0722000111"
ALL_SCOPES = "verifications,orders:read,orders:write,payment_links"
_keys = itertools.count(1)


class ApiClient:
    """An integration: its key, Idempotency-Keys drawn fresh unless given, phone tokens by OTP."""

    def __init__(self, app, key: str):
        self.app, self.client, self.key = app, app.test_client(), key
        self.zemi = app.extensions["zemi"]

    def headers(self, token=None, idem=None, **extra):
        headers = {"Authorization": f"Bearer {self.key}", **extra}
        if token:
            headers["Zemi-Phone-Token"] = token
        headers["Idempotency-Key"] = idem or f"idem-{next(_keys)}"
        return headers

    def post(self, path, json=None, token=None, idem=None, **kwargs):
        return self.client.post(path, json=json, headers=self.headers(token, idem), **kwargs)

    def get(self, path, token=None, **kwargs):
        return self.client.get(path, headers=self.headers(token), **kwargs)

    def last_code_to(self, phone: str) -> str:
        return re.search(r"\b(\d{6})\b", self.texts_to(phone)[-1]).group(1)

    def texts_to(self, phone: str) -> list[str]:
        from escrow.models import SmsMessage
        vault = self.zemi.core.vault
        with self.zemi.db.transaction() as session:
            rows = session.scalars(select(SmsMessage).where(SmsMessage.recipient_key == vault.phone_key(phone))
                                   .order_by(SmsMessage.id))
            return [vault.unseal(row.body_sealed) for row in rows]

    def verify(self, phone: str) -> str:
        started = self.post("/v1/verifications", {"phone": phone})
        assert started.status_code == 201, started.json
        done = self.post(f"/v1/verifications/{started.json['id']}/check", {"code": self.last_code_to(phone)})
        assert done.status_code == 200, done.json
        return done.json["token"]


def make_app(database_url, redis_url, tmp_path, **settings):
    return create_app({
        "INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY, "CALLBACK_TOKEN": "api-callback-token",
        "PUBLIC_BASE_URL": "http://zemi.test", "STK_DELAY_SECONDS": "0", **settings})


@pytest.fixture
def app(database_url, redis_url, tmp_path):
    app = make_app(database_url, redis_url, tmp_path)
    app.extensions["zemi"].redis.flushdb()
    yield app
    app.extensions["zemi"].db.dispose()


def new_key(app, scopes=ALL_SCOPES, name="shop") -> str:
    result = app.test_cli_runner().invoke(args=["apikeys", "create", name, "--scopes", scopes])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


@pytest.fixture
def shop(app):
    return ApiClient(app, new_key(app))


def pay(shop: ApiClient, path: str, **form):
    """Post the pay page's form as a browser does: the page first (its cookie), then the form with its token."""
    from api.pay_csrf import COOKIE, form_token
    shop.client.get(path)
    browser = shop.client.get_cookie(COOKIE, path="/p/").value
    token = path.split("/p/", 1)[1].split("?", 1)[0]
    return shop.client.post(path, data={**form, "csrf": form_token(shop.zemi.core.vault, browser, token)})
