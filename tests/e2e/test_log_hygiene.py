"""Nothing secret or personal reaches the logs over a whole journey (reliability X2)."""
import logging

from tests.e2e.conftest import CALLBACK_TOKEN
from tests.e2e.test_journey import BUYER, SELLER, reference_in, settle
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY


def test_a_whole_journey_logs_no_number_code_or_secret(live, simulator, caplog):
    caplog.set_level(logging.DEBUG)
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    code = live.delivery_code(BUYER)
    live.dial(SELLER, "4", code, "1")
    settle(live, simulator)
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} paid_out")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/hooks/stk/***" in logged, "the access log should show the callback path, token hidden"
    for secret in ("254712345678", "0712345678", "254722000111", "0722000111", code, CALLBACK_TOKEN,
                   TEST_SECRET_KEY, TEST_DATA_KEY, "sim-secret",
                   "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"):
        assert secret not in logged, f"{secret[:4]}... leaked into the logs"
