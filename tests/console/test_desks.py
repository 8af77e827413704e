"""The smaller desks: undelivered SMS sent again (once, as a new message), callbacks for review with
masked bodies, and the daily totals report."""
import requests
from sqlalchemy import select

from console.roles import ACTIONS
from escrow.models import SmsMessage
from tests.console.conftest import post_form
from tests.console.test_console_access import requests_for, stuck_sms
from tests.e2e.conftest import CALLBACK_TOKEN
from tests.e2e.test_journey import BUYER, reference_in, settle
from tests.e2e.test_operator_commands import disputed_order


def test_the_role_matrix_covers_every_action():
    assert sorted(requests_for("1", 1, 1)) == sorted(ACTIONS)


def test_an_undelivered_sms_is_sent_again_once_as_a_new_message(live, simulator, operators):
    reference = disputed_order(live, simulator)
    stuck = stuck_sms(live, reference)
    agent = operators.client(operators.enrolled("alice", "agent"))
    listed = agent.get("/console/sms").get_data(as_text=True)
    assert f"<td>{stuck}</td>" in listed and "0712***678" in listed and "254712345678" not in listed
    assert post_form(agent, f"/console/sms/{stuck}/resend", {}, from_page="/console/sms").status_code == 302
    live.run_worker()
    with live.zemi.db.transaction() as session:
        rows = session.execute(select(SmsMessage.id, SmsMessage.status).where(SmsMessage.id >= stuck)
                               .order_by(SmsMessage.id)).all()
    assert rows[0] == (stuck, "failed") and rows[-1][1] == "recorded" and len(rows) == 2
    again = post_form(agent, f"/console/sms/{stuck}/resend", {}, from_page="/console/sms")
    assert again.status_code == 400 and "sent again already" in again.get_data(as_text=True)


def test_callbacks_that_changed_nothing_are_listed_with_numbers_masked(live, operators):
    requests.post(f"{live.base_url}/hooks/stk/{CALLBACK_TOKEN}", data=b'{"Body": "not a callback", '
                  b'"phone": "254712345678"}', headers={"Content-Type": "application/json"}, timeout=10)
    live.run_worker()   # applies what the route stored (CALLBACK_APPLY=worker, the default)
    page = operators.client(operators.enrolled("vera", "viewer")).get("/console/callbacks").get_data(as_text=True)
    assert "malformed" in page and "0712***678" in page and "254712345678" not in page


def test_the_daily_report_shows_todays_money_in(live, simulator, operators):
    reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    viewer = operators.client(operators.enrolled("vera", "viewer"))
    page = viewer.get("/console/report").get_data(as_text=True)
    assert "<th>KES 1,500</th>" in page and "(EAT days)" in page
    assert viewer.get("/console/report?from=2026-01-01&to=2026-12-31").status_code == 400
