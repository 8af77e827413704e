"""Redis lost in the middle of a USSD session (F1), and the worker dying while an SMS is being sent (O1)."""
import pytest
import requests

from tests.faults.invariants import assert_money_whole
from tests.faults.servers import wait_for
from tests.faults.stack import USSD_TOKEN

pytestmark = pytest.mark.faults

BUYER, SELLER, SELLER_LOCAL = "+254711000505", "+254722000606", "0722000606"
AT_SEND = "/version1/messaging"


def test_losing_redis_mid_session_ends_the_session_politely_and_touches_no_money(stack):
    """kill -9 Redis between two hops: the caller gets a 200 END screen (no 5xx), a funded order is
    untouched, and once Redis is back (empty: sessions are gone) a new session works."""
    funded = stack.place_order(BUYER, SELLER_LOCAL, 1200)
    stack.wait_for_state(funded, "funded")
    session = {"sessionId": "ATUid_faults_redis", "serviceCode": "*384*1234#", "phoneNumber": BUYER,
               "networkCode": "63902"}
    url = f"{stack.web_url}/ussd/{USSD_TOKEN}"
    for text in ("", "1"):
        assert requests.post(url, data={**session, "text": text}, timeout=15).text.startswith("CON ")
    stack.redis.kill9()
    hop = requests.post(url, data={**session, "text": f"1*{SELLER_LOCAL}"}, timeout=15)
    assert hop.status_code == 200 and hop.text.startswith("END "), (hop.status_code, hop.text[:200])
    assert stack.order_state(funded) == "funded"
    stack.redis.start()
    again = stack.place_order(BUYER, SELLER_LOCAL, 900)
    stack.wait_for_state(again, "funded")
    assert_money_whole(stack, funded, again)


def test_a_worker_killed_while_an_sms_is_sent_sends_it_again_at_most_once_more(stack):
    """The SMS request reached Africa's Talking; the worker died before recording it. The message is
    sent again (at-least-once: the only duplicate is the one whose outcome was unknown), nothing
    stays 'sending', and the order's money is unaffected."""
    request = stack.at.hold(AT_SEND, phase="request")
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    assert request.arrived.wait(30), "no SMS was sent"
    stack.kill_worker()
    request.release()
    wait_for(lambda: stack.at_double.double.messages(), 10, "Africa's Talking to receive the held SMS")
    stack.restart_worker()
    stack.wait_for_state(reference, "funded")
    wait_for(lambda: not stack.sql("SELECT id FROM sms_messages WHERE status IN ('queued', 'sending')"), 20,
             "every SMS to be sent")
    sent = [(m.get("to"), m.get("message")) for m in stack.at_double.double.messages()]
    (rows,), = stack.sql("SELECT count(*) FROM sms_messages")
    assert rows <= len(sent) <= rows + 1, f"{rows} SMS queued, {len(sent)} reached Africa's Talking"
    assert all(n <= 2 for n in (sent.count(s) for s in set(sent))), "an SMS was sent more than twice"
    assert_money_whole(stack, reference)


def test_with_postgresql_down_a_caller_gets_a_polite_screen_and_the_service_recovers(stack):
    """PostgreSQL crashes under a USSD session: every hop still answers 200 with a CON/END screen
    (never a server error the gateway shows as a network failure); once it is back, orders work."""
    stack.postgres.crash()
    try:
        replies = stack.dial(BUYER, "1", SELLER_LOCAL, "1500", "Kitenge", "1")
        assert replies[-1].startswith("END ")
    finally:
        stack.postgres.start()
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    stack.wait_for_state(reference, "funded")
    assert_money_whole(stack, reference)


def test_postgresql_crash_while_an_sms_is_sent_sends_it_again_at_most_once_more(stack):
    """The SMS reached Africa's Talking and PostgreSQL died before we recorded it: after the restart
    it is sent again at most once, and nothing stays 'sending'."""
    request = stack.at.hold(AT_SEND, phase="request")
    reference = stack.place_order(BUYER, SELLER_LOCAL, 1500)
    assert request.arrived.wait(30), "no SMS was sent"
    stack.postgres.crash()
    request.release()
    wait_for(lambda: stack.at_double.double.messages(), 10, "Africa's Talking to receive the held SMS")
    stack.postgres.start()
    stack.expire_leases()
    stack.wait_for_state(reference, "funded")
    wait_for(lambda: not stack.sql("SELECT id FROM sms_messages WHERE status IN ('queued', 'sending')"), 20,
             "every SMS to be sent")
    sent = [(m.get("to"), m.get("message")) for m in stack.at_double.double.messages()]
    (rows,), = stack.sql("SELECT count(*) FROM sms_messages")
    assert rows <= len(sent) <= rows + 1, f"{rows} SMS queued, {len(sent)} reached Africa's Talking"
    assert_money_whole(stack, reference)
