"""LOG_FORMAT=json: one JSON object per line, path tokens still redacted."""
import io
import json
import logging

from tests.e2e.conftest import CALLBACK_TOKEN


def test_json_log_lines_keep_tokens_hidden(live):
    from jsonlog import JsonFormatter
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("zemi.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("callback at /hooks/stk/%s/a1 from %s", CALLBACK_TOKEN, "0712***678")
        try:
            raise ValueError(f"bad path /hooks/b2c/result/{CALLBACK_TOKEN}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["INFO", "ERROR"] and lines[0]["logger"] == "zemi.test.json"
    assert lines[0]["message"] == "callback at /hooks/stk/***/a1 from 0712***678"
    assert "ValueError" in lines[1]["exception"] and CALLBACK_TOKEN not in stream.getvalue()


def test_log_format_is_checked_at_start_up(tmp_path):
    import pytest
    from app import create_app
    from escrow.errors import ConfigError
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        create_app({"INSTANCE_PATH": str(tmp_path), "LOG_FORMAT": "xml"})


def test_log_format_json_puts_a_json_handler_on_the_root_logger(tmp_path):
    from app import create_app
    from jsonlog import JsonFormatter
    root = logging.getLogger()
    level = root.level
    create_app({"INSTANCE_PATH": str(tmp_path), "LOG_FORMAT": "json"})
    try:
        [handler] = [handler for handler in root.handlers if getattr(handler, "zemi_json", False)]
        assert isinstance(handler.formatter, JsonFormatter)
    finally:
        for handler in [handler for handler in root.handlers if getattr(handler, "zemi_json", False)]:
            root.removeHandler(handler)
        root.setLevel(level)
