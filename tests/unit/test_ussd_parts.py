"""Small parts of the USSD adapter: GSM-7 text, settings, reading new input, the terminal phone."""
import pytest

from escrow.errors import ConfigError
from ussd.conversation import Conversation
from ussd.gsm7 import is_gsm7, transliterate
from ussd.phone import run_phone
from ussd.session_store import digest
from ussd.settings import UssdSettings


@pytest.mark.parametrize("typed, shown", [
    ("Caf\u00e9 cr\u00e8me", "Cafe creme"),
    ("\u201cBest\u201d \u2013 shoes\u2026", '"Best" - shoes...'),
    ("Phone \U0001F4F1 case", "Phone case"),
    ("tab\tand\nnewline", "tab and newline"),
    ("[box] {set} ~50", "(box) (set) -50"),
])
def test_typed_text_becomes_plain_gsm7(typed, shown):
    assert transliterate(typed) == shown
    assert is_gsm7(transliterate(typed))


def test_settings_have_safe_defaults():
    settings = UssdSettings.from_mapping({})
    assert (settings.screen_limit, settings.session_ttl, settings.rate_limit) == (160, 300, 30)
    assert settings.path_token == "" and settings.allows("8.8.8.8")


def test_settings_read_the_allow_list_and_proxy_trust():
    settings = UssdSettings.from_mapping({"USSD_ALLOWED_IPS": "196.201.214.0/24, 10.1.1.1",
                                          "TRUST_PROXY": "1", "USSD_PATH_TOKEN": " t "})
    assert settings.trust_proxy and settings.path_token == "t"
    assert settings.allows("196.201.214.200") and settings.allows("10.1.1.1")
    assert not settings.allows("10.1.1.2") and not settings.allows("not-an-ip")


@pytest.mark.parametrize("env", [{"USSD_SCREEN_LIMIT": "big"}, {"USSD_SESSION_TTL": "0"},
                                 {"USSD_ALLOWED_IPS": "300.1.1.1"}])
def test_bad_settings_fail_fast_with_the_name(env):
    with pytest.raises(ConfigError, match=next(iter(env))):
        UssdSettings.from_mapping(env)


class DigestOnly:
    def digest(self, text):
        return digest(text)


def record_after(text):
    return {"seen_len": len(text), "seen": digest(text)}


@pytest.mark.parametrize("previous, text, new", [
    ("", "1", "1"),
    ("1", "1*0722000222", "0722000222"),
    ("1*0722000222*500", "1*0722000222*500*Chair*2 pcs", "Chair*2 pcs"),
    ("1*0722000222", "9*9*1500", "1500"),
    ("1*07", "1*07", "07"),
])
def test_the_new_input_is_what_follows_the_previous_text(previous, text, new):
    conversation = Conversation(service=None, store=DigestOnly(), settings=None)
    assert conversation.new_input(record_after(previous), text) == new


def test_the_terminal_phone_dials_answers_and_shows_new_sms():
    screens = iter(["CON Zemi Escrow\n1 Pay a seller", "END Bye"])
    posted, shown = [], []
    answers = iter(["", "1", "q"])

    def post(session_id, text):
        posted.append(text)
        return next(screens)
    inbox = [["Zemi: KES 900 is held"], []]
    run_phone("http://x", "+254711000111", "*384*1#", lambda number: inbox.pop(0) if inbox else [],
              read=lambda prompt: next(answers), write=shown.append, post=post)
    assert posted == ["", "1"]
    assert "[SMS] Zemi: KES 900 is held" in shown
    assert "\nBye\n" in shown


def test_the_terminal_phone_shows_each_sms_once_and_checks_again_on_s():
    inbox = ["Zemi: order 1 created"]
    answers = iter(["s", "s", "q"])
    shown = []

    def read(prompt):
        answer = next(answers)
        if answer == "s" and len(inbox) == 1:
            inbox.append("Zemi: Delivery code: 123456")  # arrives while the phone waits
        return answer
    run_phone("http://x", "+254711000111", "*384*1#", lambda number: list(inbox), read=read,
              write=shown.append, post=lambda session_id, text: "END unused")
    assert shown == ["[SMS] Zemi: order 1 created", "[SMS] Zemi: Delivery code: 123456"]
