"""A number's consent: the one-time code goes by SMS through the outbox; wrong, expired and reused
codes are refused; the token acts only for that number."""
from sqlalchemy import func, select, update

from escrow import outbox
from escrow.models import ApiVerification, OutboxItem, SmsMessage
from tests.api.conftest import BUYER, SELLER

CHECK = "/v1/verifications/{}/check"


def start(shop, phone=BUYER) -> str:
    response = shop.post("/v1/verifications", {"phone": phone})
    assert response.status_code == 201 and response.json["phone"] == "0712***678"
    assert response.json["expires_at"].endswith(("Z", "+00:00"))
    return response.json["id"]


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_the_code_goes_by_sms_through_the_outbox_and_is_never_stored_readable(app, shop):
    start(shop)
    code = shop.last_code_to(BUYER)
    with shop.zemi.db.transaction() as session:
        message = session.scalar(select(SmsMessage).where(SmsMessage.kind == "verification_code"))
        assert code not in message.body_redacted
        assert session.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.kind == outbox.SMS, OutboxItem.subject_id == message.id)) == 1
        assert code not in session.scalar(select(ApiVerification.code_hash))


def test_a_wrong_code_is_counted_and_the_fifth_spends_the_verification(app, shop):
    verification = start(shop)
    code = shop.last_code_to(BUYER)
    for remaining in (4, 3, 2, 1):
        answer = shop.post(CHECK.format(verification), {"code": wrong(code)})
        assert answer.status_code == 422 and answer.json["remaining"] == remaining
        assert answer.json["type"] == "urn:zemi:problem:wrong-code"
    assert shop.post(CHECK.format(verification), {"code": wrong(code)}).json["type"] == "urn:zemi:problem:code-locked"
    locked = shop.post(CHECK.format(verification), {"code": code})
    assert locked.status_code == 423 and "token" not in locked.json


def test_an_expired_code_is_refused(app, shop):
    verification = start(shop)
    code = shop.last_code_to(BUYER)
    with shop.zemi.db.transaction() as session:
        session.execute(update(ApiVerification).values(expires_at=ApiVerification.created_at))
    expired = shop.post(CHECK.format(verification), {"code": code})
    assert expired.status_code == 410 and expired.json["type"] == "urn:zemi:problem:verification-expired"


def test_a_code_gives_one_token_which_acts_only_for_its_number(app, shop):
    verification = start(shop)
    code = shop.last_code_to(BUYER)
    done = shop.post(CHECK.format(verification), {"code": code})
    assert done.status_code == 200 and done.json["token"].startswith("zpt_")
    again = shop.post(CHECK.format(verification), {"code": code})
    assert again.status_code == 409 and again.json["type"] == "urn:zemi:problem:verification-used"
    token = done.json["token"]
    order = shop.post("/v1/orders", {"seller_phone": SELLER, "amount": 1000, "item": "Bag"}, token=token)
    assert order.status_code == 201 and order.json["role"] == "buyer"
    seller_token = shop.verify(SELLER)
    assert shop.post(f"/v1/orders/{order.json['reference']}/pay-again", token=seller_token).json["type"] \
        == "urn:zemi:problem:not-allowed"   # the seller's number may not pay; the core says so
    stranger = shop.verify("0733000222")
    assert shop.get(f"/v1/orders/{order.json['reference']}", token=stranger).status_code == 404


def test_codes_to_one_number_are_limited_per_hour(app, shop):
    for _ in range(5):
        start(shop)
    refused = shop.post("/v1/verifications", {"phone": BUYER})
    assert refused.status_code == 429 and refused.json["limit"] == "verifications_per_hour"


def test_a_number_that_is_not_kenyan_is_a_422_without_echoing_it(app, shop):
    refused = shop.post("/v1/verifications", {"phone": "+441234567890"})
    assert refused.status_code == 422 and "441234567890" not in refused.get_data(as_text=True)
