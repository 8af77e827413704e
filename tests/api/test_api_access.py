"""Every operation's door: an API key (unknown, revoked), its scope, the rate limit per key, and the
phone token (absent, from another key, expired)."""
import re

import pytest
from sqlalchemy import update

from api.keys import SCOPES
from api.operations import OPERATIONS
from escrow.models import ApiVerification
from tests.api.conftest import BUYER, ApiClient, make_app, new_key

PROBLEM = "urn:zemi:problem:"


def call(client: ApiClient, op, token=None):
    path = re.sub(r"\{(\w+)\}", "12345678", op.path)
    if op.method == "GET":
        return client.get(path, token=token)
    return client.post(path, json={}, token=token)


def problem_type(response) -> str:
    assert response.headers["Content-Type"] == "application/problem+json"
    return response.json["type"].removeprefix(PROBLEM)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_every_operation_needs_a_live_key_with_its_scope(app, op):
    nobody = ApiClient(app, "zk_unknown_key")
    assert problem_type(call(nobody, op)) == "unauthorized"
    other_scopes = ",".join(scope for scope in SCOPES if scope != op.scope)
    assert problem_type(call(ApiClient(app, new_key(app, other_scopes)), op)) == "insufficient-scope"
    revoked = new_key(app, op.scope)
    assert app.test_cli_runner().invoke(args=["apikeys", "revoke", revoked[:11]]).exit_code == 0
    assert problem_type(call(ApiClient(app, revoked), op)) == "unauthorized"
    allowed = call(ApiClient(app, new_key(app, op.scope)), op)
    assert allowed.status_code not in (401, 403) or problem_type(allowed) == "phone-token-required"


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.phone], ids=lambda op: op.name)
def test_acting_for_a_number_needs_a_live_token_issued_to_the_same_key(app, shop, op):
    assert problem_type(call(shop, op)) == "phone-token-required"
    token = shop.verify(BUYER)
    other_shop = ApiClient(app, new_key(app, name="other-shop"))
    assert problem_type(call(other_shop, op, token=token)) == "phone-token-required"
    assert call(shop, op, token=token).status_code not in (401, 403)
    with shop.zemi.db.transaction() as session:
        session.execute(update(ApiVerification).values(token_expires_at=ApiVerification.created_at))
    assert problem_type(call(shop, op, token=token)) == "phone-token-required"


def test_a_key_past_its_rate_limit_is_told_when_to_come_back(database_url, redis_url, tmp_path):
    app = make_app(database_url, redis_url, tmp_path, API_RATE_PER_MINUTE="3")
    app.extensions["zemi"].redis.flushdb()
    shop, neighbour = ApiClient(app, new_key(app)), ApiClient(app, new_key(app, name="neighbour"))
    answers = [shop.get("/v1/orders").status_code for _ in range(5)]
    assert answers[:3] == [401, 401, 401] and answers[3:] == [429, 429]   # 401: no phone token, but counted
    limited = shop.get("/v1/orders")
    assert problem_type(limited) == "rate-limited" and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert problem_type(neighbour.get("/v1/orders")) == "phone-token-required"   # per key
    app.extensions["zemi"].db.dispose()


def test_an_api_key_is_shown_once_and_only_its_hash_is_stored(app):
    key = new_key(app)
    listing = app.test_cli_runner().invoke(args=["apikeys", "list"]).output
    assert key[:11] in listing and key not in listing
    from sqlalchemy import select
    from escrow.models import ApiKey
    with app.extensions["zemi"].db.transaction() as session:
        stored = session.scalar(select(ApiKey))
        assert key not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64


def test_unknown_scopes_are_refused_when_the_key_is_made(app):
    result = app.test_cli_runner().invoke(args=["apikeys", "create", "shop", "--scopes", "orders:read,admin"])
    assert result.exit_code != 0 and "scopes must be some of" in result.output
