"""A seller's payment request, through the API or on USSD, gets its pay link from the core's one use
case: the buyer's SMS carries it when the text still fits one GSM-7 segment (else the plain text that
says what to dial), a seller on USSD gets it by SMS to share, and the stored readable copies hide it."""
import re

from sqlalchemy import select

from escrow.models import PaymentLink, SmsMessage
from escrow.text import is_gsm7
from tests.api.conftest import BUYER, SELLER, ApiClient, make_app, new_key

LINK = re.compile(r"http://zemi\.test/p/([A-Za-z0-9_-]{22})\b")


def readable_copies(app, phone: str) -> list[tuple[str, str]]:
    zemi = app.extensions["zemi"]
    with zemi.db.transaction() as session:
        return [(row.kind, row.body_redacted) for row in session.scalars(
            select(SmsMessage).where(SmsMessage.recipient_key == zemi.core.vault.phone_key(phone))
            .order_by(SmsMessage.id))]


def dial(app, phone: str, *answers: str) -> list[str]:
    client, typed, replies = app.test_client(), [], []
    for answer in ("",) + answers:
        typed += [answer] if answer else []
        reply = client.post("/ussd", data={"sessionId": f"req-{phone}", "serviceCode": "*384*1234#",
                                           "phoneNumber": phone, "networkCode": "63902", "text": "*".join(typed)})
        assert reply.status_code == 200
        replies.append(reply.get_data(as_text=True))
    return replies


def test_a_named_buyers_sms_carries_the_pay_link_in_one_segment(app, shop):
    made = shop.post("/v1/payment-requests", {"amount": 1500, "item": "Blue kitenge", "buyer_phone": BUYER},
                     token=shop.verify(SELLER))
    assert made.status_code == 201
    url = made.json["url"]
    assert LINK.fullmatch(url), url                                       # 128-bit token, 22 characters

    text = shop.texts_to(BUYER)[-1]
    buyers_url = LINK.search(text).group(0)       # the buyer's own link; the shop's `url` is the seller's copy
    assert buyers_url != url and "Blue kitenge" in text and made.json["order"]["reference"] in text
    assert len(text) <= 160 and is_gsm7(text)
    assert readable_copies(app, BUYER)[-1] == ("payment_link_to_buyer", text.replace(buyers_url, "******")
                                               .replace(SELLER, "0722***111"))
    assert shop.client.get(url.removeprefix("http://zemi.test")).status_code == 200
    assert shop.client.get(buyers_url.removeprefix("http://zemi.test")).status_code == 200


def test_a_link_that_would_not_fit_one_segment_is_left_out_and_the_buyer_is_told_what_to_dial(
        database_url, redis_url, tmp_path):
    app = make_app(database_url, redis_url, tmp_path, PUBLIC_BASE_URL="https://payments.a-very-long-host-name.example.co.ke")
    app.extensions["zemi"].redis.flushdb()
    shop = ApiClient(app, new_key(app))
    made = shop.post("/v1/payment-requests", {"amount": 1500, "item": "Samsung Galaxy A15 X", "buyer_phone": BUYER},
                     token=shop.verify(SELLER))
    assert made.status_code == 201 and made.json["url"].startswith("https://payments.a-very-long-host-name")

    text = shop.texts_to(BUYER)[-1]
    assert "/p/" not in text and "to accept or decline" in text and len(text) <= 160
    assert readable_copies(app, BUYER)[-1][0] == "payment_request_to_buyer"
    app.extensions["zemi"].db.dispose()


def test_a_seller_request_on_ussd_gets_a_view_link_to_follow_it_while_the_buyer_gets_their_own(app, shop):
    replies = dial(app, SELLER, "2", BUYER, "2500", "Radio", "1")
    assert "Request" in replies[-1] and "sent" in replies[-1]

    to_seller = shop.texts_to(SELLER)[-1]
    url = LINK.search(to_seller).group(0)
    assert "sent to the buyer" in to_seller and "Share it" not in to_seller and len(to_seller) <= 160
    assert url not in shop.texts_to(BUYER)[-1]                  # a copy: the buyer's own link answers
    assert readable_copies(app, SELLER)[-1][0] == "pay_link_to_seller"
    assert all(url not in body and LINK.search(body) is None
               for phone in (SELLER, BUYER) for _, body in readable_copies(app, phone))

    page = shop.client.get(url.removeprefix("http://zemi.test") + "?lang=en").get_data(as_text=True)
    assert "Radio" in page and "KES 2,500" in page and "0712***678" in page   # it prompts only that buyer
    with app.extensions["zemi"].db.transaction() as session:
        links = session.scalars(select(PaymentLink)).all()
        assert len(links) == 2 and all(link.order_id is not None and link.api_key_id is None for link in links)


def test_a_request_through_the_api_sends_the_seller_no_extra_sms(app, shop):
    seller = shop.verify(SELLER)
    before = len(shop.texts_to(SELLER))
    assert shop.post("/v1/payment-requests", {"amount": 900, "item": "Kofia", "buyer_phone": BUYER},
                     token=seller).status_code == 201
    assert len(shop.texts_to(SELLER)) == before                 # the shop has the link in the answer
