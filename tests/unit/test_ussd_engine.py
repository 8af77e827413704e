"""The pure USSD flow: step(state, input, ctx) against the in-memory escrow fake."""
import json

import pytest

from escrow.errors import InvalidTransition
from tests.fakes.escrow_service import FakeEscrowService
from ussd.engine import resume_point, start, step
from ussd.screens import Context

BUYER = "+254711000111"
SELLER = "+254722000222"


@pytest.fixture
def service():
    return FakeEscrowService()


def walk(service, inputs, caller=BUYER, state=None):
    """Dial (unless a state is given), then answer each input; every outcome in order."""
    ctx = Context(service, caller, service.language_of(caller))
    outcomes = [start(ctx)] if state is None else []
    state = state or outcomes[0].state
    for answer in inputs:
        outcomes.append(step(state, answer, ctx))
        state = outcomes[-1].state
    return outcomes


def last(service, inputs, caller=BUYER):
    return walk(service, inputs, caller)[-1]


def test_dialling_shows_home_with_all_six_choices(service):
    reply = start(Context(service, BUYER)).reply
    assert not reply.end
    assert reply.text.splitlines()[1:] == ["1 Pay a seller", "2 Request a payment", "3 My orders",
                                           "4 Enter delivery code", "5 Language", "6 Help"]


def test_paying_a_seller_creates_one_order_and_ends_with_the_prompt_notice(service):
    outcomes = walk(service, ["1", "0722000222", "1500", "Blue sofa", "1"])
    summary, done = outcomes[-2].reply, outcomes[-1]
    assert "Pay 0722000222" in summary.text and "KES 1,500" in summary.text and "Blue sofa" in summary.text
    assert done.reply.end and "40000001" in done.reply.text and "M-Pesa prompt" in done.reply.text
    assert done.actions == ("create_order",)
    assert service.calls == [("create_order", {"reference": "40000001", "price": 1500, "item": "Blue sofa", "prompt": True})]


@pytest.mark.parametrize("number", ["0722000222", "0110000222", "+254722000222", "254722000222"])
def test_every_kenyan_number_form_is_accepted_for_the_seller(number, service):
    assert "Enter the amount" in last(service, ["1", number]).reply.text


@pytest.mark.parametrize("number", ["12345", "0812345678", "hello"])
def test_a_bad_seller_number_reprompts_with_the_accepted_forms(number, service):
    reply = last(service, ["1", number]).reply
    assert not reply.end
    assert reply.text.startswith("That number is not valid. Use 07.., 01.. or +254..")
    assert "seller's M-Pesa number" in reply.text


def test_paying_yourself_is_refused_before_the_amount(service):
    assert last(service, ["1", "0711000111"]).reply.text.startswith("You cannot use your own number.")


@pytest.mark.parametrize("amount", ["10", "300000"])
def test_an_amount_out_of_range_reprompts_with_the_range(amount, service):
    reply = last(service, ["1", "0722000222", amount]).reply
    assert not reply.end
    assert reply.text.startswith("The amount must be KES 50 to KES 250,000.")


@pytest.mark.parametrize("amount", ["abc", "12.5", "1 5 0"])
def test_a_non_numeric_amount_reprompts_for_digits(amount, service):
    assert last(service, ["1", "0722000222", amount]).reply.text.startswith("Enter a whole amount in KES")


def test_an_item_is_made_gsm7_and_trimmed_to_twenty_characters(service):
    outcome = last(service, ["1", "0722000222", "1500", "Caf\u00e9 \u201cdeluxe\u201d chair \U0001F600 with arms"])
    assert outcome.state["data"]["item"] == 'Cafe "deluxe" chair'
    assert len(outcome.state["data"]["item"]) <= 20


def test_cancelling_the_summary_ends_without_an_order(service):
    outcome = last(service, ["1", "0722000222", "1500", "Blue sofa", "2"])
    assert outcome.reply.end and "Nothing was charged" in outcome.reply.text
    assert service.calls == []


def test_zero_goes_back_one_screen_keeping_earlier_answers(service):
    outcome = last(service, ["1", "0722000222", "1500", "0"])
    assert "Enter the amount" in outcome.reply.text
    assert outcome.state["data"] == {"party": "254722000222"}


def test_double_zero_goes_home_from_deep_in_a_flow(service):
    outcome = last(service, ["1", "0722000222", "1500", "00"])
    assert outcome.state["screen"] == "main" and outcome.state["history"] == []


def test_back_from_the_first_screen_of_a_flow_is_home(service):
    assert last(service, ["1", "0"]).state["screen"] == "main"


def test_requesting_a_payment_ends_saying_the_buyer_gets_an_sms(service):
    outcome = last(service, ["2", "0711000111", "2000", "Maize 2 bags", "1"], caller=SELLER)
    assert outcome.reply.end and "buyer will get an SMS to accept" in outcome.reply.text
    assert service.count("request_payment") == 1


def seed_held(service, code="123456"):
    return service.seed(buyer=BUYER, seller=SELLER, price=2500, item="Radio", state="funded", code=code)


def test_the_right_code_releases_after_confirmation(service):
    reference = seed_held(service)
    outcomes = walk(service, ["4", "123456", "1"], caller=SELLER)
    assert reference in outcomes[2].reply.text and "Release the money for it to you?" in outcomes[2].reply.text
    assert "You get KES 2,463 (KES 2,500 less KES 37 fee)." in outcomes[2].reply.text   # 2,500 less the 37 fee: says why
    assert outcomes[3].reply.end and outcomes[3].reply.text.startswith("Released. KES 2,463 for order")
    assert service.orders[reference].state == "released"


def test_the_code_itself_is_never_kept_in_the_session(service):
    seed_held(service, code="987654")
    outcomes = walk(service, ["4", "987654"], caller=SELLER)
    assert all("987654" not in json.dumps(outcome.state) for outcome in outcomes)


def test_a_wrong_code_reprompts_with_the_tries_left(service):
    seed_held(service)
    reply = last(service, ["4", "111111"], caller=SELLER).reply
    assert not reply.end and reply.text.startswith("Wrong code. Tries left: 4.")


def test_a_code_of_the_wrong_shape_is_refused_without_using_a_try(service):
    seed_held(service)
    reply = last(service, ["4", "12345"], caller=SELLER).reply
    assert reply.text.startswith("The code has 6 digits.") and service.code_tries == {}


def test_too_many_wrong_codes_end_with_the_lock_message(service):
    seed_held(service)
    outcome = last(service, ["4"] + ["111111"] * 5, caller=SELLER)
    assert outcome.reply.end and "locked" in outcome.reply.text


def test_declining_to_release_keeps_the_money_held(service):
    reference = seed_held(service)
    outcome = last(service, ["4", "123456", "2"], caller=SELLER)
    assert outcome.reply.end and service.orders[reference].state == "funded"


def test_my_orders_pages_with_98_and_back_returns_to_the_first_page(service):
    for number in range(7):
        service.seed(buyer=BUYER, seller=SELLER, price=100 + number, item=f"Thing {number}")
    outcomes = walk(service, ["3", "98", "0"])
    assert outcomes[1].reply.text.splitlines()[-1] == "98 More 0 Back 00 Home"
    assert outcomes[2].reply.text.splitlines()[0] == "5 Thing 2 (Waiting for payment)"   # numbering goes on
    assert outcomes[3].reply.text == outcomes[1].reply.text


def test_page_two_rows_are_picked_by_their_own_numbers(service):
    for number in range(7):
        service.seed(buyer=BUYER, seller=SELLER, price=100 + number, item=f"Thing {number}")
    assert last(service, ["3", "98", "5"]).reply.text.startswith("40000003 Thing 2")
    assert last(service, ["3", "98", "1"]).reply.text.startswith("Invalid choice.")


def test_an_order_number_typed_on_the_list_opens_that_order(service):
    reference = service.seed(buyer=BUYER, seller=SELLER, price=900, item="Shoes", reference="12345671")
    assert last(service, ["3", reference]).reply.text.startswith("12345671 Shoes")


def test_an_order_shows_only_the_actions_the_core_offers(service):
    service.seed(buyer=BUYER, seller=SELLER, price=900, item="Shoes")
    text = last(service, ["3", "1"]).reply.text
    assert "Seller: 0722000222" in text and "Pay to hold the money." in text
    assert [line for line in text.splitlines() if line[:2] in ("1 ", "2 ", "3 ", "4 ")] == [
        "1 Pay now", "2 Pay via Paybill", "3 Cancel order"]


@pytest.mark.parametrize("choices, caller, expected, call", [
    (["1"], BUYER, "M-Pesa prompt for KES 900 is coming", "pay_again"),
    (["2"], BUYER, "Paybill 600100, account 40000001, amount KES 900", None),
    (["3", "1"], BUYER, "Order 40000001 cancelled", "cancel_order"),
])
def test_unpaid_order_actions_end_saying_what_happens_next(choices, caller, expected, call, service):
    service.seed(buyer=BUYER, seller=SELLER, price=900, item="Shoes")
    outcome = last(service, ["3", "1"] + choices, caller=caller)
    assert outcome.reply.end and expected in outcome.reply.text
    assert [name for name, _ in service.calls] == ([call] if call else [])


def test_a_buyer_accepts_a_payment_request_and_is_told_a_prompt_is_coming(service):
    service.seed(buyer=BUYER, seller=SELLER, price=900, item="Shoes", requested=True)
    outcome = last(service, ["3", "1", "1"])
    assert outcome.reply.end and "Accepted" in outcome.reply.text and service.count("accept_request") == 1


def test_a_buyer_declines_a_payment_request(service):
    reference = service.seed(buyer=BUYER, seller=SELLER, price=900, item="Shoes", requested=True)
    assert "declined" in last(service, ["3", "1", "2"]).reply.text
    assert service.orders[reference].state == "cancelled"


def test_reporting_a_problem_asks_the_reason_and_opens_a_dispute(service):
    seed_held(service)
    outcome = last(service, ["3", "1", "1", "2"])
    assert outcome.reply.end and "Problem reported" in outcome.reply.text
    assert service.calls == [("open_dispute", {"reference": "40000001", "reason": "damaged"})]


def test_a_new_code_is_sent_by_sms(service):
    seed_held(service)
    outcome = last(service, ["3", "1", "2"])
    assert outcome.reply.end and "new code was sent by SMS" in outcome.reply.text


def test_a_seller_accepts_a_paid_order_and_then_marks_it_sent(service):
    reference = seed_held(service)
    first = last(service, ["3", "1"], caller=SELLER).reply.text
    assert "1 Accept order\n2 Cancel order" in first and "Accept, then deliver." in first
    accepted = last(service, ["3", "1", "1"], caller=SELLER).reply
    assert accepted.end and "Order 40000001 accepted. Deliver Radio to 0711000111" in accepted.text
    assert service.orders[reference].accepted
    assert "marked as sent" in last(service, ["3", "1", "2"], caller=SELLER).reply.text


def test_confirm_delivery_on_an_order_leads_to_code_entry(service):
    service.seed(buyer=BUYER, seller=SELLER, price=2500, item="Radio", state="funded", code="123456", accepted=True)
    assert last(service, ["3", "1", "1"], caller=SELLER).state["screen"] == "code.enter"


def test_a_buyer_entering_the_code_for_a_seller_who_never_accepted_is_told_to_wait(service):
    reference = seed_held(service)
    outcome = last(service, ["4", "123456"])
    assert outcome.reply.end and outcome.reply.text.startswith("The seller has not accepted order 40000001 yet.")
    assert service.orders[reference].state == "funded"


def test_a_buyer_releases_to_a_seller_who_accepted_and_is_asked_about_the_seller(service):
    service.seed(buyer=BUYER, seller=SELLER, price=2500, item="Radio", state="funded", code="123456", accepted=True)
    outcomes = walk(service, ["4", "123456", "1"])
    assert "Pay seller 0722000222 for it?" in outcomes[2].reply.text
    assert outcomes[3].reply.text.startswith("Released. Seller 0722000222 is being paid KES 2,463")


def test_an_order_changed_by_someone_else_ends_politely(service, monkeypatch):
    service.seed(buyer=BUYER, seller=SELLER, price=900, item="Shoes")

    def refused(*args, **kwargs):
        raise InvalidTransition("expired", "payment_received")
    monkeypatch.setattr(service, "pay_again", refused)
    outcome = last(service, ["3", "1", "1"])
    assert outcome.reply.end and "This order has changed" in outcome.reply.text


def test_choosing_kiswahili_remembers_it_and_shows_home_in_kiswahili(service):
    outcome = last(service, ["5", "2"])
    assert outcome.reply.text.startswith("Lugha: Kiswahili\nZemi Escrow\n1 Lipa muuzaji")
    assert service.language_of(BUYER) == "sw"
    assert start(Context(service, BUYER, "sw")).reply.text.splitlines()[1] == "1 Lipa muuzaji"


def test_help_ends_with_paybill_fee_and_support_number(service):
    reply = last(service, ["6", "1"]).reply
    assert reply.end and "Paybill 600100" in reply.text and "1.5%" in reply.text and "0800720000" in reply.text


def test_an_invalid_menu_choice_reprompts(service):
    reply = last(service, ["9"]).reply
    assert not reply.end and reply.text.startswith("Invalid choice.\nZemi Escrow")


def test_a_dropped_flow_is_offered_again_where_it_left_off(service):
    dropped = last(service, ["1", "0722000222", "1500"]).state
    point = resume_point(dropped)
    offer = start(Context(service, BUYER), point)
    assert "You did not finish: Pay a seller" in offer.reply.text
    resumed = step(offer.state, "1", Context(service, BUYER))
    assert "What are you buying?" in resumed.reply.text
    assert "Enter the amount" in step(resumed.state, "0", Context(service, BUYER)).reply.text


def test_starting_again_drops_the_offer(service):
    point = resume_point(last(service, ["1", "0722000222"]).state)
    offer = start(Context(service, BUYER), point)
    assert step(offer.state, "2", Context(service, BUYER)).state["screen"] == "main"


def test_resume_never_returns_to_a_code_confirmation(service):
    seed_held(service)
    point = resume_point(last(service, ["4", "123456"], caller=SELLER).state)
    assert point["screen"] == "code.enter" and "token" not in point["data"]


def test_nothing_is_offered_after_the_session_ended_or_at_home(service):
    assert resume_point(last(service, ["6"]).state) is None
    assert resume_point(start(Context(service, BUYER)).state) is None


def test_an_ended_session_answers_only_that_it_ended(service):
    ended = last(service, ["6"]).state
    assert step(ended, "1", Context(service, BUYER)).reply.end
    assert service.calls == []
