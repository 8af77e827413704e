"""Texting ERASE (FUTA) erases a number only when its owner confirms from that phone.

Africa's Talking signs nothing: an incoming-SMS callback is trusted on its path token alone, and that
token is the CALLBACK_TOKEN Daraja's callbacks carry too (issue 11 assumes it can leak). A post with
it, `from` any number and the text ERASE, recorded an erasure of that number: carried out at once
(the number's history, profile and Redis records gone for good) or as soon as its orders ended.
A careful person expects that only they can erase their number. ERASE now answers with a one-time
code sent to that number; the erasure is recorded only when ERASE <code> comes back. Whoever forges
the first text never sees the code; each request allows one guess, and a number gets few requests a
day (each costs us an SMS)."""
import itertools
import re

from sqlalchemy import func, select

from escrow.models import ErasureRequest
from tests.api.conftest import BUYER, app, shop  # noqa: F401 -- fixtures reused here

TOKEN = "api-callback-token"
_ids = itertools.count(1)


def text_us(app, phone: str, text: str):  # noqa: F811
    form = {"id": f"ATXid_{next(_ids)}", "from": "+254" + phone[1:], "to": "22384", "text": text,
            "date": "2026-12-02 10:10:10", "linkId": "", "networkCode": "63902"}
    return app.test_client().post(f"/hooks/sms/inbound/{TOKEN}", data=form)


def erasures(app) -> int:  # noqa: F811
    with app.extensions["zemi"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(ErasureRequest)
                              .where(ErasureRequest.status.in_(("pending", "done"))))


def test_a_forged_erase_text_erases_nothing_and_its_owner_is_asked_to_confirm(app, shop):  # noqa: F811
    assert text_us(app, BUYER, "ERASE").status_code == 200
    assert erasures(app) == 0
    asked = shop.texts_to(BUYER)[-1]
    assert "ERASE" in asked and re.search(r"\b\d{6}\b", asked)       # only the phone's owner sees the code
    for guess in ("000000", "123456", "999999"):                      # the forger guesses
        text_us(app, BUYER, f"ERASE {guess}")
    assert erasures(app) == 0


def test_the_owner_confirms_with_the_code_from_their_phone(app, shop):  # noqa: F811
    text_us(app, BUYER, "futa")
    code = re.search(r"\b(\d{6})\b", shop.texts_to(BUYER)[-1]).group(1)
    assert "FUTA" in shop.texts_to(BUYER)[-1]                          # answered in the keyword's language
    text_us(app, BUYER, f"FUTA {code}")
    assert erasures(app) == 1
    assert shop.texts_to(BUYER)[-1].startswith("Zemi: Tunafuta nambari yako sasa")


def test_one_guess_per_request_and_few_requests_a_day(app, shop):  # noqa: F811
    text_us(app, BUYER, "ERASE")
    code = re.search(r"\b(\d{6})\b", shop.texts_to(BUYER)[-1]).group(1)
    wrong = "000000" if code != "000000" else "111111"
    text_us(app, BUYER, f"ERASE {wrong}")
    text_us(app, BUYER, f"ERASE {code}")                               # the request was spent by the guess
    assert erasures(app) == 0
    sent = len(shop.texts_to(BUYER))
    for _ in range(10):                                                # a flood of requests: a few codes sent
        text_us(app, BUYER, "ERASE")
    assert len(shop.texts_to(BUYER)) - sent <= 2


def test_texts_forged_from_one_number_get_it_a_few_answers_a_day_not_one_each(app, shop):  # noqa: F811
    """HELP and STOP are answered by SMS to the sender: forged with the token, each post made us pay
    for a text to any number we were told (SMS pumping). A number gets a few answers a day."""
    sent = len(shop.texts_to(BUYER))
    for word in ("HELP", "MSAADA", "STOP", "ACHA") * 5:
        assert text_us(app, BUYER, word).status_code == 200
    assert len(shop.texts_to(BUYER)) - sent <= 3
