"""Issue 11 finding 12: in live mode (live Daraja or live SMS) /ussd is never open to anyone who
can reach it: the app refuses to start without USSD_PATH_TOKEN, naming it."""
import pytest

from app import create_app
from escrow.errors import ConfigError
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY

LIVE_DARAJA = {"MPESA_BASE_URL": "https://api.safaricom.co.ke", "MPESA_CONSUMER_KEY": "live-key",
               "MPESA_CONSUMER_SECRET": "live-secret", "MPESA_SHORTCODE": "4123456", "MPESA_PASSKEY": "passkey",
               "MPESA_B2C_SHORTCODE": "3123456", "MPESA_INITIATOR_NAME": "zemi-api",
               "MPESA_SECURITY_CREDENTIAL": "credential", "PUBLIC_BASE_URL": "https://zemi.example",
               "CALLBACK_TOKEN": "Hk2vT9pLw3", "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY}
LIVE_SMS = {"SMS_BACKEND": "africastalking", "AT_USERNAME": "zemi", "AT_API_KEY": "at-key"}


def settings(tmp_path, **extra):
    return {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'z.db'}",
            "REDIS_URL": "redis://127.0.0.1:1/0", **extra}


@pytest.mark.parametrize("live", [LIVE_DARAJA, LIVE_SMS, {**LIVE_DARAJA, **LIVE_SMS}], ids=["daraja", "sms", "both"])
def test_live_mode_without_a_ussd_path_token_refuses_to_start_naming_it(tmp_path, live):
    with pytest.raises(ConfigError, match="USSD_PATH_TOKEN"):
        create_app(settings(tmp_path, **live))


def test_an_allow_list_alone_is_not_enough(tmp_path):
    with pytest.raises(ConfigError, match="USSD_PATH_TOKEN"):
        create_app(settings(tmp_path, USSD_ALLOWED_IPS="196.201.214.0/24", **LIVE_DARAJA))


def test_live_mode_with_a_token_serves_ussd_only_under_it(tmp_path):
    app = create_app(settings(tmp_path, USSD_PATH_TOKEN="u55d-T0ken", **LIVE_DARAJA, **LIVE_SMS))
    rules = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/ussd")}
    assert "/ussd/<token>" in rules
    client = app.test_client()
    assert client.post("/ussd", data={"sessionId": "s", "phoneNumber": "+254711000111", "text": ""}).status_code == 404


def test_the_simulator_and_the_sms_console_need_no_token(tmp_path):
    assert create_app(settings(tmp_path)).extensions["zemi"] is not None
