"""Hops per USSD journey (dial included), as docs/wording.md's table gives them for today's tree:
a change that costs a journey a hop must change this table and say why there."""
from bench.journey_hops import count_hops

TODAY = {
    "Pay a seller (create an order)": 6,
    "A first-time caller pays a seller (the privacy line is said on the way)": 6,
    "Pay a seller whose number is outside Safaricom's ranges": 7,   # the "may not be on M-Pesa" question
    "Pay a seller from an Airtel line (told to use Paybill)": 6,
    "Request a payment": 6,
    "Buyer accepts a request and pays": 4,
    "Buyer pays an unpaid order again": 4,
    "Seller accepts a paid order": 4,
    "Seller marks an order sent": 4,
    "Seller enters the delivery code (release)": 4,
    "Seller enters the code dialled straight in (*384*1234*4*code#)": 2,
    "Buyer enters the code (seller accepted)": 4,
    "Buyer reports a problem": 5,
    "Buyer cancels an unpaid order": 5,
    "Buyer gets a new code by SMS": 4,
    "Buyer reads a new code on screen (SMS failed)": 4,
    "Open one order to read its state": 3,
    "Open one order dialled straight in (*384*1234*3*ref#)": 1,
    "Read the fees and Paybill (Help)": 3,
    "Switch to Kiswahili": 3,
    "A first-time caller switches to Kiswahili": 3,
}


def test_every_journey_takes_the_hops_the_wording_notes_say(redis_client):
    assert count_hops(redis_client) == TODAY
