"""What the console shows: masked numbers everywhere until an audited reveal, the search and its CSV,
strict headers and nothing from outside, and an audit log nobody can edit."""
import re

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from escrow import audit
from tests.console.conftest import post_form
from tests.e2e.test_journey import BUYER, SELLER, reference_in, settle
from tests.e2e.test_operator_commands import disputed_order

FULL_NUMBERS = ("254712345678", "0712345678", "712345678", "254722000111", "0722000111")


def leaks(body: str) -> list[str]:
    return [number for number in FULL_NUMBERS if number in body]


def test_no_page_or_export_shows_a_full_number_until_an_audited_reveal(live, simulator, operators):
    reference = disputed_order(live, simulator)
    agent = operators.client(operators.enrolled("alice", "agent"))
    pages = ["/console/", "/console/orders", "/console/orders.csv",
             f"/console/orders/{reference}", "/console/disputes", "/console/findings", "/console/audit"]
    for url in pages:
        response = agent.get(url)
        assert response.status_code == 200, url
        assert leaks(response.get_data(as_text=True)) == [], url
    found = post_form(agent, "/console/orders/find", {"q": "0712 345 678"}, from_page="/console/orders")
    assert found.status_code == 302 and leaks(found.headers["Location"]) == [] and "party=" in found.headers["Location"]
    listed = agent.get(found.headers["Location"]).get_data(as_text=True)
    assert reference in listed and "0712***678" in listed
    no_reason = post_form(agent, f"/console/orders/{reference}/reveal", {"reason": ""})
    assert no_reason.status_code == 400 and leaks(no_reason.get_data(as_text=True)) == []
    shown = post_form(agent, f"/console/orders/{reference}/reveal", {"reason": "buyer on the phone"})
    assert shown.status_code == 200 and "254712345678" in shown.get_data(as_text=True)
    with live.zemi.db.transaction() as session:
        [entry] = audit.entries(session, order_reference=reference)
    assert (entry.operator, entry.action, entry.reason) == ("alice", "revealed_parties", "buyer on the phone")
    assert leaks(agent.get("/console/audit").get_data(as_text=True)) == []


def test_orders_are_found_by_reference_receipt_item_and_state_and_paged_by_keyset(live, simulator, operators):
    references = [reference_in(live.dial(BUYER, "1", "0722000111", str(price), f"Shoes {price}", "1")[-1])
                  for price in (300, 400, 500)]
    settle(live, simulator)
    with live.zemi.db.transaction() as session:
        receipt = session.scalar(text("SELECT receipt FROM payments_received ORDER BY id LIMIT 1"))
    viewer = operators.client(operators.enrolled("vera", "viewer"))

    def listed(query: str) -> list[str]:
        return re.findall(r'/console/orders/(\d{8})"', viewer.get(f"/console/orders?{query}", follow_redirects=True)
                          .get_data(as_text=True))
    assert listed("") == references[::-1]
    assert listed(f"q={references[1]}") == [references[1]]
    assert listed(f"q={receipt}") == [references[0]]
    assert listed("q=shoes 5") == [references[2]]
    assert listed("q=0733999888") == [] and listed("state=disputed") == []
    assert listed("state=funded") == references[::-1]
    from console import pages
    pages.PAGE_SIZE, saved = 2, pages.PAGE_SIZE
    try:
        first = viewer.get("/console/orders").get_data(as_text=True)
        after = re.search(r'after=(\d+)', first).group(1)
        assert listed(f"after={after}") == [references[0]]
    finally:
        pages.PAGE_SIZE = saved
    exported = viewer.get("/console/orders.csv?state=funded").get_data(as_text=True).splitlines()
    assert exported[0].startswith("reference,state,item") and len(exported) == 4
    assert all("0712***678" in line and "0722***111" in line for line in exported[1:])
    assert viewer.get("/console/orders?from=2026-13-01").status_code == 400


def test_pages_carry_strict_headers_and_load_nothing_from_outside(live, operators):
    viewer = operators.client(operators.enrolled("vera", "viewer"))
    for url in ("/console/login", "/console/"):
        response = (live.app.test_client() if url.endswith("login") else viewer).get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        body = response.get_data(as_text=True)
        assert "<script" not in body and "style=" not in body and "<style" not in body
        assert re.findall(r'(?:src|href)="(https?:)?//', body) == []
    cookie = next(value for name, value in live.app.test_client().get("/console/login").headers.items()
                  if name == "Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    css = viewer.get("/console/static/console.css")
    assert css.status_code == 200 and css.mimetype == "text/css"


def test_https_deployments_get_hsts_and_secure_cookies(live):
    from console.settings import ConsoleSettings
    assert ConsoleSettings.from_mapping({"PUBLIC_BASE_URL": "https://zemi.example"}).secure_cookies
    response = live.app.test_client().get("/console/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in live.app.test_client().get("/console/login").headers


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET reason = 'changed'", "DELETE FROM audit_log"])
def test_the_audit_log_refuses_updates_and_deletes(live, statement):
    with live.zemi.db.transaction() as session:
        audit.record(session, audit.Actor("alice", "agent", "127.0.0.1"), "dispute_noted", reason="kept")
    with pytest.raises(DBAPIError, match="append-only"):
        with live.zemi.db.transaction() as session:
            session.execute(text(statement))
    with live.zemi.db.transaction() as session:
        assert session.scalar(text("SELECT reason FROM audit_log")) == "kept"


def test_the_overview_counts_money_held_and_what_needs_a_person(live, simulator, operators):
    reference = disputed_order(live, simulator)
    page = operators.client(operators.enrolled("vera", "viewer")).get("/console/").get_data(as_text=True)
    assert 'id="held">KES 1,500<' in page and "Disputes open: 1" in page and " EAT" in page
    order_page = operators.client("vera").get(f"/console/orders/{reference}").get_data(as_text=True)
    linked = order_page.split('id="order-callbacks"')[1].split("</table>")[0]
    assert "<td>stk</td><td>applied</td>" in linked and "254712345678" not in linked
    chart = page.split('id="chart">')[1].split("</svg>")[0]
    assert chart.startswith("<svg") and chart.count("<rect") == 30 * 5 and "KES 1,500 in, 1 new orders" in chart
    disputes = operators.client("vera").get("/console/disputes").get_data(as_text=True)
    assert reference in disputes and "damaged" in disputes
    assert SELLER not in page


def test_an_enrolment_code_in_a_link_is_hidden_in_access_logs(live):
    import logging
    live.app.test_client()            # the console is registered: its filter is on the access loggers
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '%s - - "%s" %s',
                               ("127.0.0.1", "GET /console/enrol/Sup3r-secret_code HTTP/1.1", "200"), None)
    for handler_filter in logging.getLogger("werkzeug").filters:
        handler_filter.filter(record)
    assert "Sup3r-secret_code" not in record.getMessage() and "/console/enrol/***" in record.getMessage()
