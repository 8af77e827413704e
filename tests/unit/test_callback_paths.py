"""Daraja refuses callback URLs containing certain words (protocols.md C.12 #3); none of ours may."""
import pytest

from app import create_app
from escrow.errors import ConfigError
from mpesa.fields import stk_password
from mpesa.security import FILTERED_WORDS, CallbackGuard, ConfirmPolicy, filtered_words_in

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    path = tmp_path_factory.mktemp("paths")
    return create_app({"INSTANCE_PATH": str(path), "DATABASE_URL": f"sqlite:///{path / 'z.db'}",
                       "REDIS_URL": "redis://127.0.0.1:1/0", "CALLBACK_TOKEN": "path-token-1234"})


def hook_rules(app) -> list[str]:
    return [rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/hooks/")]


def test_the_app_has_every_daraja_callback_path(app):
    rules = hook_rules(app)
    for path in ("/hooks/stk/<token>", "/hooks/b2c/result/<token>", "/hooks/b2c/timeout/<token>",
                 "/hooks/b2c/status/<token>", "/hooks/c2b/validation/<token>", "/hooks/c2b/confirmation/<token>"):
        assert path in rules


def test_no_callback_path_contains_a_word_daraja_filters(app):
    for rule in hook_rules(app):
        assert filtered_words_in(rule) == [], rule


def test_no_callback_url_we_hand_to_daraja_contains_a_filtered_word(app):
    gateway = app.extensions["zemi"].gateway
    urls = [gateway.url(path) for path in ("stk", "b2c/result", "b2c/timeout", "b2c/status")]
    urls += list(gateway.c2b_urls())
    for url in urls:
        assert filtered_words_in(url) == [], url


@pytest.mark.parametrize("word", FILTERED_WORDS)
def test_a_callback_token_with_a_filtered_word_is_refused_at_start(tmp_path, word):
    with pytest.raises(ConfigError, match="CALLBACK_TOKEN"):
        create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'z.db'}",
                    "REDIS_URL": "redis://127.0.0.1:1/0", "CALLBACK_TOKEN": f"abc{word.upper()}def"})


def test_stk_password_equals_safaricom_published_sample():
    assert stk_password("174379", SANDBOX_PASSKEY, "20160216165627") == (
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQy"
        "YzkxOTIwMTYwMjE2MTY1NjI3")


def test_forwarded_for_counts_only_behind_our_own_proxy_and_only_its_last_hop():
    direct = CallbackGuard.from_mapping({"MPESA_ALLOWED_IPS": "196.201.214.200, 196.201.212.0/24"})
    assert direct.client_address("10.0.0.5", "196.201.214.200") == "10.0.0.5"
    proxied = CallbackGuard.from_mapping({"MPESA_ALLOWED_IPS": "196.201.214.200", "TRUST_PROXY": "1"})
    assert proxied.client_address("10.0.0.5", "196.201.214.200, 6.6.6.6") == "6.6.6.6"
    assert proxied.client_address("10.0.0.5", "6.6.6.6, 196.201.214.200") == "196.201.214.200"
    assert direct.allows("196.201.212.69") and direct.allows("196.201.214.200")
    assert not direct.allows("6.6.6.6") and not direct.allows("not-an-ip") and not direct.allows(None)
    assert CallbackGuard.from_mapping({}).allows("6.6.6.6")  # empty list: the check is off
    with pytest.raises(ConfigError):
        CallbackGuard.from_mapping({"MPESA_ALLOWED_IPS": "somewhere"})


def test_confirm_with_query_setting():
    assert not ConfirmPolicy.from_setting(None).requires(10_000)
    assert ConfirmPolicy.from_setting("always").requires(1)
    above = ConfirmPolicy.from_setting("5000")
    assert above.requires(5001) and not above.requires(5000)
    with pytest.raises(ConfigError):
        ConfirmPolicy.from_setting("sometimes")
