"""The Daraja simulator with a phone page open: STK prompts wait for the person's answer (PIN, cancel,
wrong PIN, time-out) and the callback carries Daraja's code; an unwatched number is answered as before."""
import time

import pytest
import requests

from mpesa.results import parse_c2b, parse_stk_callback
from mpesa.simulator import SimulatorServer
from mpesa.simulator_phones import PIN
from tests.integration.test_daraja_client import CallbackReceiver
from tests.integration.test_simulator import PHONE, _register, call, stk_credentials, stk_push, stk_query


@pytest.fixture
def sim():
    with SimulatorServer({"callback_delay": 0.05, "prompt_seconds": 1.0}) as server:
        yield server


@pytest.fixture
def receiver():
    with CallbackReceiver() as server:
        yield server


@pytest.fixture
def token(sim):
    answer = requests.get(f"{sim.base_url}/oauth/v1/generate",
                          params={"grant_type": "client_credentials"}, auth=("sim-key", "sim-secret"))
    return answer.json()["access_token"]


def open_page(sim, phone=PHONE) -> dict:
    answer = requests.get(f"{sim.base_url}/_sim/phones/{phone}")
    assert answer.status_code == 200
    return answer.json()


def answer_prompt(sim, checkout_request_id, action, pin=None, phone=PHONE):
    return requests.post(f"{sim.base_url}/_sim/phones/{phone}/answer",
                         json={"checkout_request_id": checkout_request_id, "action": action, "pin": pin})


def held_prompt(sim, pushed) -> dict:
    prompts = open_page(sim)["prompts"]
    assert [p["checkout_request_id"] for p in prompts] == [pushed["CheckoutRequestID"]]
    return prompts[0]


def code_sent(body: dict) -> int:
    """ResultCode as Daraja posts it (an int in callbacks)."""
    code = body["Body"]["stkCallback"]["ResultCode"]
    assert isinstance(code, int)
    return code


def test_without_a_page_the_push_is_answered_automatically(sim, receiver, token):
    pushed = stk_push(sim, receiver, token)
    body = receiver.wait_for("/stk")[0]
    assert (parse_stk_callback(body).checkout_request_id, code_sent(body)) == (pushed["CheckoutRequestID"], 0)


def test_the_prompt_waits_for_the_pin_and_the_right_pin_pays(sim, receiver, token):
    open_page(sim)
    pushed = stk_push(sim, receiver, token, Amount=1500)
    prompt = held_prompt(sim, pushed)
    assert prompt["text"] == "Pay KES 1,500 to ZEMI? Enter PIN" and prompt["account"] == "ORD42"
    assert sim.drain(timeout=0.5) and receiver.bodies("/stk") == []          # nothing sent yet
    assert stk_query(sim, token, pushed["CheckoutRequestID"]).json()["errorCode"] == "500.001.1001"

    assert answer_prompt(sim, pushed["CheckoutRequestID"], "pin", PIN).json()["result_code"] == 0
    body = receiver.wait_for("/stk")[0]
    result = parse_stk_callback(body)
    assert code_sent(body) == 0 and result.amount == 1500 and result.receipt
    assert open_page(sim)["prompts"] == []
    assert answer_prompt(sim, pushed["CheckoutRequestID"], "pin", PIN).status_code == 404   # answered once


@pytest.mark.parametrize("action, pin, code", [("cancel", None, 1032), ("pin", "0000", 2001)])
def test_cancelling_or_a_wrong_pin_sends_darajas_code(sim, receiver, token, action, pin, code):
    open_page(sim)
    pushed = stk_push(sim, receiver, token)
    held_prompt(sim, pushed)
    assert answer_prompt(sim, pushed["CheckoutRequestID"], action, pin).json()["result_code"] == code
    body = receiver.wait_for("/stk")[0]
    assert code_sent(body) == code and parse_stk_callback(body).receipt is None
    assert stk_query(sim, token, pushed["CheckoutRequestID"]).json()["ResultCode"] == str(code)


def test_a_prompt_nobody_answers_times_out_with_1037(sim, receiver, token):
    open_page(sim)
    pushed = stk_push(sim, receiver, token)
    held_prompt(sim, pushed)
    assert code_sent(receiver.wait_for("/stk", timeout=10)[0]) == 1037
    assert answer_prompt(sim, pushed["CheckoutRequestID"], "pin", PIN).status_code == 404


def test_a_scenario_set_for_the_number_decides_what_follows_the_right_pin(sim, receiver, token):
    sim.set_scenario(PHONE, "insufficient_funds")
    open_page(sim)
    pushed = stk_push(sim, receiver, token)
    held_prompt(sim, pushed)
    answer_prompt(sim, pushed["CheckoutRequestID"], "pin", PIN)
    assert code_sent(receiver.wait_for("/stk")[0]) == 1


def test_another_phone_cannot_answer_the_prompt(sim, receiver, token):
    open_page(sim)
    pushed = stk_push(sim, receiver, token)
    assert answer_prompt(sim, pushed["CheckoutRequestID"], "pin", PIN, phone="254722000111").status_code == 404
    assert held_prompt(sim, pushed)


def test_paying_the_paybill_from_the_handset_needs_the_pin_and_confirms_to_the_registered_url(sim, receiver, token):
    _register(sim, receiver, token)
    refused = requests.post(f"{sim.base_url}/_sim/phones/{PHONE}/paybill",
                            json={"business": "600984", "account": "12345674", "amount": "1500", "pin": "9999"})
    assert refused.status_code == 403
    paid = requests.post(f"{sim.base_url}/_sim/phones/{PHONE}/paybill",
                         json={"business": "600984", "account": "12345674", "amount": "1500", "pin": PIN})
    assert paid.status_code == 200 and paid.json()["registered"] is True
    confirmation = parse_c2b(receiver.wait_for("/c2b/confirm")[0])
    assert (confirmation.amount, confirmation.bill_ref_number, confirmation.trans_id) == (
        1500, "12345674", paid.json()["TransID"])
