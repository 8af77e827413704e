"""Issue 14's last pass, screen by screen: the right network, the line on personal data, the code shown on
screen and kept out of AT's session event. Whole conversations: conversations/network_code_privacy.yaml."""
import pytest

from escrow.catalog import CATALOGS, render
from escrow.views import OrderView
from tests.fakes.escrow_service import FakeEscrowService
from tests.unit.test_ussd_catalog import LIMIT, LONG_ITEM, long_data, screen_text
from ussd.engine import start, step
from ussd.events import HIDDEN, event_record
from ussd.flows import SCREENS
from ussd.gsm7 import is_gsm7
from ussd.network import is_safaricom_number, on_mpesa_line
from ussd.render import show
from ussd.screens import Context, Input

LANGUAGES = ("en", "sw")


@pytest.mark.parametrize("number", ["0722000222", "+254701234567", "254799000111", "0740123456", "0748123456",
                                    "0757123456", "0769123456", "0110123456", "0115123456"])
def test_safaricom_numbers_are_recognised(number):
    assert is_safaricom_number(number)


@pytest.mark.parametrize("number", ["0733000333", "0100123456", "0750123456", "0770123456", "0780123456",
                                    "0747123456", "0763123456", "0116123456", "not a number"])
def test_numbers_outside_safaricoms_ranges_are_not(number):
    assert not is_safaricom_number(number)


@pytest.mark.parametrize("network, reaches", [("63902", True), ("99999", True), ("", True), ("63903", False),
                                              ("63907", False), ("63999", False)])
def test_only_safaricom_lines_can_get_an_m_pesa_prompt(network, reaches):
    assert on_mpesa_line(network) is reaches


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_airtel_payers_first_screen_says_how_to_pay_and_a_refusal_there_still_says_why(language):
    service = FakeEscrowService()
    ctx = Context(service, "+254733000111", language, network="63903")
    first = step(start(ctx).state, "1", ctx)
    assert first.reply.text.startswith(render(language, "ussd.pay.not_mpesa_line"))
    assert len("CON " + first.reply.text) <= LIMIT
    refused = step(first.state, "12", ctx)
    assert refused.reply.text.startswith(render(language, "ussd.err.phone"))
    assert render(language, "ussd.pay.seller", network_note="") in refused.reply.text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("screen_id", [s.id for s in SCREENS.values() if isinstance(s, Input)])
def test_the_privacy_line_fits_above_every_input_screen(language, screen_id):
    """A first-time caller reads it on the first screen after Home: every input screen has the room."""
    line = max(render(language, "ussd.privacy", shortcode="223845"), render(language, "ussd.privacy.reply"),
               key=len)
    text = "CON " + line + "\n" + screen_text(language, screen_id)
    assert len(text) <= LIMIT and is_gsm7(text), text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_privacy_line_is_said_once_and_never_on_a_reprompt(language):
    ctx = Context(FakeEscrowService(), "+254711000111", language, sms_shortcode="22384")
    home = start(ctx, first_dial=True)
    line = render(language, "ussd.privacy", shortcode="22384")
    assert line not in home.reply.text
    refused = step(home.state, "9", ctx)
    assert line not in refused.reply.text, "a refusal keeps its room for the reason"
    told = step(refused.state, "4", ctx)
    assert told.reply.text.startswith(line)
    back_home = step(told.state, "00", ctx)
    again = step(back_home.state, "4", ctx)
    assert line not in back_home.reply.text and line not in again.reply.text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("state", ("funded", "dispatched"))
def test_the_order_screen_offering_a_code_on_screen_fits(language, state):
    class Service(FakeEscrowService):
        def order_for(self, phone, reference):
            return OrderView("12345678", state, LONG_ITEM, 250_000, 1_000, 250_000, 249_000, "buyer",
                             "0712***678", ("confirm_delivery", "report_problem", "code_on_screen"),
                             counterpart="0712345678", seller_accepted=True)

    text = "CON " + show(SCREENS["order"], {"ref": "12345678"}, Context(Service(), "+254711000111", language)).text
    assert len(text) <= LIMIT and is_gsm7(text), text
    assert CATALOGS[language]["ussd.action.code_on_screen"] in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_seller_number_question_fits(language):
    data = {**long_data(), "party": "254733000333"}
    text = "CON " + show(SCREENS["pay.check"], data, Context(FakeEscrowService(), "+254711000111", language)).text
    assert len(text) <= LIMIT and "0733000333" in text


def test_the_session_event_drops_a_screen_that_showed_a_code():
    form = {"sessionId": "ATUid_1", "phoneNumber": "+254711000111", "input": "3*12345678*3",
            "lastAppResponse": "END Order 12345678: your new delivery code is 345678. Write it down"}
    assert event_record(form, private=True)["lastAppResponse"] == HIDDEN
    blanked = event_record(form)["lastAppResponse"]
    assert "345678." not in blanked and "Order 12345678" in blanked and "******" in blanked
    assert "3*12345678*3" not in str(event_record(form, private=True))


@pytest.mark.parametrize("network, prompt", [("63903", False), ("63902", True)])
def test_no_m_pesa_prompt_is_asked_for_a_line_it_cannot_reach(network, prompt):
    service = FakeEscrowService()
    reference = service.seed(buyer="+254711000111", seller="0722000222", price=900, item="Shoes", requested=True)
    ctx = Context(service, "+254711000111", "en", network=network)
    state = start(ctx).state
    for answer in ("1", "0722000222", "1500", "Kitenge", "1"):
        outcome = step(state, answer, ctx)
        state = outcome.state
    assert outcome.reply.end and service.calls[-1] == ("create_order", {**service.calls[-1][1], "prompt": prompt})
    state = start(ctx).state
    for answer in ("3", "2", "1"):          # the request is the older order: row 2
        outcome = step(state, answer, ctx)
        state = outcome.state
    assert service.calls[-1] == ("accept_request", {"reference": reference, "prompt": prompt}), outcome.reply.text
