"""The USSD catalog: both languages alike, GSM-7 only, every screen within 160 characters."""
import string

import pytest

from escrow.catalog import CATALOGS, placeholders, render
from escrow.views import ACTIONS, OrderView
from tests.fakes.escrow_service import FakeEscrowService
from ussd.flows import SCREENS
from ussd.gsm7 import is_gsm7
from ussd.render import compose, show
from ussd.screens import Confirm, Context, Input, Menu

LIMIT = 160
PREFIX = 4
LANGUAGES = ("en", "sw")
LONG_ITEM = "Samsung Galaxy A15 X"          # 20 characters, the most an item may have
ERRORS_ON_INPUT = ("ussd.err.phone", "ussd.err.self", "ussd.err.amount", "ussd.err.range",
                   "ussd.err.item", "ussd.err.code_format", "ussd.err.wrong_code", "ussd.err.not_allowed")
ENDINGS = ("ussd.pay.done", "ussd.req.done", "ussd.code.done", "ussd.code.kept", "ussd.cancelled",
           "ussd.help", "ussd.orders.none") + tuple(k for k in CATALOGS["en"] if k.startswith(("ussd.done.", "ussd.err.")))


def ussd_keys(language):
    return {key for key in CATALOGS[language] if key.startswith("ussd.")}


def literal_text(template):
    return "".join(literal for literal, _, _, _ in string.Formatter().parse(template))


def longest(language, prefix):
    return max((text for key, text in CATALOGS[language].items() if key.startswith(prefix)), key=len)


def long_values(language):
    return {"ref": "12345678", "item": LONG_ITEM, "price": "KES 250,000", "charge": "KES 251,000",
            "payout": "KES 250,000", "fee": "KES 1,000", "min": "KES 1,000", "max": "KES 250,000",
            "party": "0712345678", "state": longest(language, "ussd.state."), "remaining": "10",
            "fee_note": longest(language, "ussd.fee_by."), "payer": longest(language, "ussd.party."),
            "task": longest(language, "ussd.task."), "paybill": "6001001", "fee_pct": "1.25",
            "fee_min": "KES 100", "fee_max": "KES 1,000", "support": "0800 720 000", "n": "5",
            "party_line": render(language, "ussd.order.as_buyer", party="0712345678"), "value": "KES 250,000",
            "next": "\n" + longest(language, "ussd.next."), "code": "123456", "shortcode": "22384",
            "network_note": render(language, "ussd.pay.not_mpesa_line")}


def fill(language, key):
    return render(language, key, **long_values(language))


def long_data():
    return {"party": "254712345678", "price": 250_000, "fee": 1_000, "fee_payer": "seller",
            "charge": 251_000, "payout": 249_000, "item": LONG_ITEM, "ref": "12345678",
            "token": "t", "saved": {}, "task": "ussd.task.request"}


class LongOrderService(FakeEscrowService):
    """The fake, answering every look-up with one long order offering the given actions."""
    def __init__(self, actions=()):
        super().__init__(order_min=1_000)
        self.actions = tuple(actions)

    def order_for(self, phone, reference):
        return OrderView("12345678", "needs_review", LONG_ITEM, 250_000, 1_000, 251_000, 250_000,
                         "buyer", "0712***678", self.actions)

    def orders_of(self, phone, *, offset=0, limit=5):
        return [self.order_for(phone, "x")] * limit


def screen_text(language, screen_id, actions=()):
    ctx = Context(LongOrderService(actions), "+254711000111", language)
    return show(SCREENS[screen_id], long_data(), ctx).text


def test_both_languages_have_the_same_ussd_keys():
    assert ussd_keys("en") == ussd_keys("sw")


@pytest.mark.parametrize("key", sorted(ussd_keys("en")))
def test_both_languages_use_the_same_placeholders(key):
    assert placeholders(CATALOGS["en"][key]) == placeholders(CATALOGS["sw"][key])


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_ussd_text_is_plain_gsm7(language):
    offenders = [key for key in ussd_keys(language) if not is_gsm7(literal_text(CATALOGS[language][key]))]
    assert offenders == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", ENDINGS)
def test_every_ending_fits_one_screen_with_long_values(language, key):
    text = "END " + fill(language, key)
    assert len(text) <= LIMIT, text
    assert is_gsm7(text)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("screen_id", sorted(SCREENS))
def test_every_screen_fits_with_long_values(language, screen_id):
    text = "CON " + screen_text(language, screen_id, actions=_three_longest_actions(language))
    assert len(text) <= LIMIT, text
    assert is_gsm7(text)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("screen_id", [s.id for s in SCREENS.values() if isinstance(s, Input)])
@pytest.mark.parametrize("error", ERRORS_ON_INPUT)
def test_an_input_screen_fits_with_any_error_above_it(language, screen_id, error):
    text = "CON " + fill(language, error) + "\n" + screen_text(language, screen_id)
    assert len(text) <= LIMIT, text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("screen_id", [s.id for s in SCREENS.values() if isinstance(s, (Menu, Confirm))])
def test_a_menu_reprompt_fits_and_keeps_every_option(language, screen_id):
    screen = screen_text(language, screen_id, actions=_three_longest_actions(language))
    ctx = Context(LongOrderService(), "+254711000111", language)
    text = "CON " + compose(fill(language, "ussd.err.choice"), screen, ctx)
    assert len(text) <= LIMIT, text
    assert text.endswith(screen)


@pytest.mark.parametrize("language", LANGUAGES)
def test_home_fits_with_the_language_notice_above_it(language):
    text = "CON " + fill(language, "ussd.language.saved") + "\n" + screen_text(language, "main")
    assert len(text) <= LIMIT


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_full_page_of_orders_shows_four_rows_and_more(language):
    text = screen_text(language, "orders")
    assert len(text.splitlines()) == 5
    assert text.splitlines()[-1] == render(language, "ussd.nav.more")


def _three_longest_actions(language):
    return sorted(ACTIONS, key=lambda name: -len(CATALOGS[language][f"ussd.action.{name}"]))[:3]


def test_kiswahili_uses_the_glossary_terms_and_none_of_the_phrases_that_read_wrongly():
    from escrow.catalog import AVOID, GLOSSARY
    texts = "\n".join(CATALOGS["sw"].values())
    assert [phrase for phrase in AVOID["sw"] if phrase in texts] == []
    assert GLOSSARY["delivery code"]["sw"] in texts and "nambari ya kupokea" not in texts


STATES = ("requested", "awaiting_payment", "checking_payment", "funded", "dispatched", "disputed", "released",
          "paid_out", "refunding", "refunded", "settling", "settled", "declined", "expired", "cancelled",
          "needs_review")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_state_has_its_own_word(language):
    words = [CATALOGS[language][f"ussd.state.{state}"] for state in STATES]
    assert len(set(words)) == len(STATES)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("role", ("buyer", "seller"))
@pytest.mark.parametrize("state", STATES)
def test_every_order_screen_says_what_happens_next_and_fits(language, role, state):
    """A realistic order (a 14-letter item, the core's own actions for the state and role) shows its
    state word, the other party in full, the next step, every action, and Back/Home."""
    from escrow.models import Order
    from escrow.orders import actions_for
    from ussd.flows import next_step_key

    order = Order(state=state, initiated_by="buyer", seller_accepted_at=None)
    actions = actions_for(order, role)

    class RealisticService(FakeEscrowService):
        def order_for(self, phone, reference):
            return OrderView("12345678", state, "Tecno Spark 10", 25_000, 375, 25_000, 24_625, role,
                             "0712***678", actions, counterpart="0712345678")

    view = RealisticService().order_for("", "")
    text = "CON " + show(SCREENS["order"], {"ref": "12345678"}, Context(RealisticService(), "+254711000111",
                                                                     language)).text
    assert len(text) <= LIMIT and is_gsm7(text), text
    assert CATALOGS[language][f"ussd.state.{state}"] in text and "0712345678" in text
    assert render(language, next_step_key(view)) in text
    for name in actions:
        assert CATALOGS[language][f"ussd.action.{name}"] in text
    assert text.endswith(render(language, "ussd.nav"))
