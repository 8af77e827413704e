"""Issue 11 finding 15: one parser for every setting. A value means the same wherever it is read,
and a value no reader understands stops start-up with the setting's name."""
import pytest

from app import create_app
from escrow.errors import ConfigError
from escrow.reconcile import ReconcileSettings
from escrow.settings import EscrowSettings, read_bool, read_choice, read_int, read_list
from mpesa.security import CallbackGuard
from ussd.settings import UssdSettings


@pytest.mark.parametrize("value,meaning", [("on", True), ("1", True), ("TRUE", True), (" yes ", True),
                                           ("off", False), ("0", False), ("false", False), ("No", False),
                                           ("", False)])
def test_trust_proxy_means_the_same_to_the_ussd_allow_list_and_the_callback_guard(value, meaning):
    env = {"TRUST_PROXY": value}
    assert UssdSettings.from_mapping(env).trust_proxy is meaning
    assert CallbackGuard.from_mapping(env).trust_proxy is meaning
    assert read_bool(env, "TRUST_PROXY") is meaning


@pytest.mark.parametrize("value", ["maybe", "2", "enabled", "\u0661", "truee"])
def test_a_boolean_nobody_understands_is_refused_everywhere_by_name(value):
    env = {"TRUST_PROXY": value}
    for reader in (UssdSettings.from_mapping, CallbackGuard.from_mapping):
        with pytest.raises(ConfigError, match="TRUST_PROXY"):
            reader(env)


def test_redis_cluster_reads_on_like_every_other_boolean(tmp_path):
    with pytest.raises(ConfigError, match="REDIS_CLUSTER"):   # on: a cluster, so REDIS_URL is needed
        create_app({"INSTANCE_PATH": str(tmp_path), "REDIS_CLUSTER": "on"})
    with pytest.raises(ConfigError, match="REDIS_CLUSTER"):
        create_app({"INSTANCE_PATH": str(tmp_path), "REDIS_CLUSTER": "sometimes"})


@pytest.mark.parametrize("name,reader", [("USSD_SESSION_TTL", UssdSettings.from_mapping),
                                         ("RECONCILE_EVERY_SECONDS", ReconcileSettings.from_mapping),
                                         ("FEE_BPS", EscrowSettings.from_mapping)])
@pytest.mark.parametrize("value", ["1e3", "\u0661\u0662\u0660", "\uff11\uff12\uff10", "12.5", "-1", "1_000",
                                   "9" * 5000])
def test_a_whole_number_setting_is_ascii_digits_or_refused_by_name(name, reader, value):
    with pytest.raises(ConfigError, match=name):
        reader({name: value})


def test_whole_numbers_lists_and_choices_read_one_way():
    env = {"N": " 120 ", "IPS": "10.0.0.1, 10.1.0.0/16,,", "FEE_PAYER": "Buyer", "EMPTY": ""}
    assert read_int(env, "N", 5) == 120 and read_int(env, "MISSING", 5) == 5 and read_int(env, "EMPTY", 5) == 5
    assert read_int({"N": 0}, "N", 5) == 0 and read_bool({"B": False}, "B", True) is False   # a test's mapping
    with pytest.raises(ConfigError, match="N must be at least 500"):
        read_int(env, "N", 5, minimum=500)
    assert read_list(env, "IPS") == ("10.0.0.1", "10.1.0.0/16") and read_list(env, "EMPTY", ("x",)) == ()
    assert read_list(env, "MISSING", ("x",)) == ("x",)
    assert read_choice(env, "FEE_PAYER", ("seller", "buyer"), "seller") == "buyer"
    with pytest.raises(ConfigError, match="FEE_PAYER"):
        read_choice({"FEE_PAYER": "both"}, "FEE_PAYER", ("seller", "buyer"), "seller")


@pytest.mark.parametrize("name,reader", [("USSD_ALLOWED_IPS", UssdSettings.from_mapping),
                                         ("MPESA_ALLOWED_IPS", CallbackGuard.from_mapping)])
def test_both_allow_lists_read_addresses_the_same_way(name, reader):
    assert len(getattr(reader({name: " 196.201.214.0/24 , 10.0.0.1 ,"}),
                       "allowed_ips" if name.startswith("USSD") else "networks")) == 2
    with pytest.raises(ConfigError, match=name):
        reader({name: "10.0.0.1, not-an-address"})
