"""Nothing secret or personal reaches the logs, or the database in clear, over a whole journey
(reliability X2)."""
import logging

from sqlalchemy import select

from escrow.inbox import raw_body
from escrow.models import Base, InboundCallback

from tests.e2e.conftest import CALLBACK_TOKEN
from tests.e2e.mpesa_live import rows
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


def test_no_phone_number_or_name_is_stored_in_clear_and_the_sealed_callbacks_keep_them(live_with_at, simulator,
                                                                                        at_double):
    live = live_with_at
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    live.dial(SELLER, "4", live.delivery_code(BUYER), "1")
    settle(live, simulator)
    assert at_double.post_delivery_reports(f"{live.base_url}/hooks/sms/delivery/{CALLBACK_TOKEN}")
    assert at_double.post_inbound(f"{live.base_url}/hooks/sms/inbound/{CALLBACK_TOKEN}", BUYER, "HELP") == 200
    live.run_worker()
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} paid_out")

    with live.zemi.db.transaction() as session:
        stored = "\n".join(str(tuple(row)) for table in Base.metadata.sorted_tables
                           for row in session.execute(select(table)))
    for personal in ("254712345678", "0712345678", "%2B254712345678", "254722000111", "0722000111", "JOHN DOE"):
        assert personal not in stored, f"{personal[:5]}... stored in clear"
    callbacks = rows(live, InboundCallback)
    assert {c.source for c in callbacks} >= {"stk", "b2c_result", "sms_delivery", "sms_inbound"}
    raw = "\n".join(raw_body(live.zemi.core.vault, c.body, c.body_sealed) for c in callbacks)
    assert "254712345678" in raw and "254722000111 - JOHN DOE" in raw  # sealed, not lost
    assert "0712***678" in "\n".join(c.body for c in callbacks)       # the review copy, masked


def test_a_request_that_fails_inside_the_app_logs_no_path_token(redis_url, tmp_path, caplog):
    """Finding 4: the database is unreachable and the journal cannot be written, so the callback
    fails inside the app; whatever logs it (Flask's own logger included) hides the token."""
    from app import create_app

    caplog.set_level(logging.DEBUG)
    (tmp_path / "not-a-dir").write_text("")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "REDIS_URL": redis_url,
                      "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere", "CALLBACK_TOKEN": CALLBACK_TOKEN,
                      "CALLBACK_JOURNAL_DIR": str(tmp_path / "not-a-dir" / "journal"),
                      "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY})
    response = app.test_client().post(f"/hooks/stk/{CALLBACK_TOKEN}", json={"Body": {}})
    assert response.status_code >= 500
    assert caplog.records, "the failure should be logged"
    assert CALLBACK_TOKEN not in caplog.text


def test_no_logger_prints_a_path_token_even_through_handlers_added_later(redis_url, tmp_path):
    """Flask's app logger, the root logger, gunicorn's error logger: any level, message, argument or
    traceback; handlers attached after the app was built (as gunicorn attaches its own)."""
    import io

    from app import create_app

    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "REDIS_URL": redis_url,
                      "CALLBACK_TOKEN": CALLBACK_TOKEN, "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    loggers = [app.logger, logging.getLogger(), logging.getLogger("gunicorn.error"), logging.getLogger("mpesa.x")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        for logger in loggers:
            try:
                raise RuntimeError(f"while handling /hooks/stk/{CALLBACK_TOKEN}")
            except RuntimeError:
                logger.error("Exception on /hooks/stk/%s [POST]", CALLBACK_TOKEN, exc_info=True)
            logger.debug(f"/hooks/b2c/result/{CALLBACK_TOKEN}")
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert "/hooks/stk/***" in stream.getvalue() and "RuntimeError" in stream.getvalue()
    assert CALLBACK_TOKEN not in stream.getvalue()
