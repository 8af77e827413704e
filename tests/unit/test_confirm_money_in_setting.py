"""MPESA_CONFIRM_WITH_QUERY per mode: live Daraja confirms every payment; only the simulator may skip it."""
import pytest

from app import create_app
from escrow.errors import ConfigError
from escrow.vault import new_data_key
from mpesa.security import ConfirmPolicy, daraja_is_simulated

LIVE = {"MPESA_BASE_URL": "https://api.safaricom.co.ke", "MPESA_CONSUMER_KEY": "live-key"}
SIMULATED = {"MPESA_BASE_URL": "http://127.0.0.1:8001", "MPESA_CONSUMER_KEY": "sim-key"}


def test_only_a_loopback_simulator_with_its_public_test_key_counts_as_the_simulator():
    assert daraja_is_simulated(SIMULATED)
    assert not daraja_is_simulated(LIVE)
    assert not daraja_is_simulated({**SIMULATED, "MPESA_CONSUMER_KEY": "live-key"})   # real keys: live
    assert not daraja_is_simulated({**LIVE, "MPESA_CONSUMER_KEY": "sim-key"})         # a remote host: live


def test_live_daraja_confirms_every_amount_by_default():
    policy = ConfirmPolicy.for_mode(None, live=True)
    assert policy.requires(1) and policy.requires(250_000) and policy.requires(None)


@pytest.mark.parametrize("value", ["never", "", "5000"])
def test_live_daraja_refuses_to_skip_confirmation_naming_the_setting(value):
    if value == "":
        assert ConfirmPolicy.for_mode(value, live=True).mode == "always"
        return
    with pytest.raises(ConfigError, match="MPESA_CONFIRM_WITH_QUERY"):
        ConfirmPolicy.for_mode(value, live=True)


def test_the_simulator_skips_confirmation_unless_asked():
    assert not ConfirmPolicy.for_mode(None, live=False).requires(10_000)
    assert ConfirmPolicy.for_mode("always", live=False).requires(1)


def test_the_app_refuses_to_start_against_live_daraja_with_confirmation_off(tmp_path, redis_url):
    settings = {**LIVE, "INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'z.db'}",
                "REDIS_URL": redis_url, "MPESA_CONSUMER_SECRET": "s", "MPESA_SHORTCODE": "174379",
                "MPESA_PASSKEY": "p", "MPESA_B2C_SHORTCODE": "600000", "MPESA_INITIATOR_NAME": "op",
                "MPESA_SECURITY_CREDENTIAL": "c", "PUBLIC_BASE_URL": "https://zemi.example.org",
                "CALLBACK_TOKEN": "a-long-random-token", "SECRET_KEY": "k" * 32,
                "DATA_KEY": new_data_key(), "USSD_PATH_TOKEN": "ussd-token",
                "MPESA_CONFIRM_WITH_QUERY": "never"}
    with pytest.raises(ConfigError, match="MPESA_CONFIRM_WITH_QUERY"):
        create_app(settings)
