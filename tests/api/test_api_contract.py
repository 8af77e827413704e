"""The OpenAPI document is valid OpenAPI 3.1, and a property-based run of the API from it
(schemathesis, a few examples per operation) finds no server error and no answer outside the schema."""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.api.conftest import BUYER, SELLER, ApiClient, make_app, new_key

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_openapi_document_is_valid_openapi_3_1(app):
    document = app.test_client().get("/v1/openapi.json").json
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert len(document["paths"]) >= 11 and "Problem" in document["components"]["schemas"]
    page = app.test_client().get("/v1/docs")
    assert page.status_code == 200 and b"/v1/orders/{reference}/confirm-delivery" in page.data
    assert b"<script" not in page.data and b"https://" not in page.data   # nothing from a CDN


@pytest.fixture
def fuzzed(database_url, redis_url, tmp_path):
    """The app with a key holding every scope, a buyer's phone token and one order to find."""
    app = make_app(database_url, redis_url, tmp_path, API_RATE_PER_MINUTE="100000")
    app.extensions["zemi"].redis.flushdb()
    shop = ApiClient(app, new_key(app))
    token = shop.verify(BUYER)
    assert shop.post("/v1/orders", {"seller_phone": SELLER, "amount": 1000, "item": "Bag"}, token=token)\
        .status_code == 201
    yield app, {"Authorization": f"Bearer {shop.key}", "Zemi-Phone-Token": token}
    app.extensions["zemi"].db.dispose()


def test_no_server_error_and_no_answer_outside_the_schema(fuzzed):
    app, headers = fuzzed
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers={**(case.headers or {}), **headers}, checks=CHECKS)
        run()
