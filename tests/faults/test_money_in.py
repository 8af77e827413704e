"""Faults on the way in: the STK push, its answer, its callback (issue 11 finding 1 and 2; I4, O1, F1, F2)."""
import signal

import pytest

from tests.faults.invariants import assert_money_whole
from tests.faults.servers import wait_for
from tests.faults.stack import STK_PATH

pytestmark = pytest.mark.faults

BUYER, SELLER, SELLER_LOCAL = "+254711000101", "+254722000202", "0722000202"


def test_without_faults_a_journey_is_funded_and_paid_out(stack):
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    stack.wait_for_state(reference, "funded")
    stack.confirm_delivery(SELLER, BUYER, reference)
    stack.wait_for_state(reference, "paid_out")
    assert_money_whole(stack, reference)
