"""Who may do what in the console, and that the second factor guards every move of money."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from console.roles import ALLOWED, ROLES
from escrow.findings import record_finding
from escrow.models import AuditEntry, CodeAttempt, OperatorSession
from tests.console.conftest import PASSWORD, enrolment_code, post_form
from tests.e2e.test_journey import BUYER, reference_in, settle
from tests.e2e.test_operator_commands import disputed_order


def audit_count(live, action: str) -> int:
    with live.zemi.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def open_finding(live, key: str) -> int:
    with live.zemi.db.transaction() as session:
        record_finding(session, f"test:{key}", order_id=None, summary="a test finding")
        return session.scalar(text("SELECT MAX(id) FROM inbound_callbacks WHERE source = 'finding'"))


def stuck_sms(live, reference: str) -> int:
    """An SMS of the order that failed an hour ago (written as the provider's refusal would leave it)."""
    from datetime import timedelta
    from escrow.db import db_now, insert_row
    from escrow.models import Order, SmsMessage
    vault = live.zemi.core.vault
    with live.zemi.db.transaction() as session:
        order_id = session.scalar(select(Order.id).where(Order.reference == reference))
        return insert_row(session, SmsMessage, order_id=order_id, recipient_key=vault.phone_key(BUYER),
                          recipient_sealed=vault.seal(BUYER), kind="dispute_opened", language="en",
                          body_redacted="Zemi: test", body_sealed=vault.seal("Zemi: test"), status="failed",
                          created_at=db_now(session) - timedelta(hours=1))


def lock_caller(live, phone: str) -> str:
    """A day's worth of wrong codes from `phone`, as escrow.delivery records each."""
    key = live.zemi.core.vault.phone_key(phone)
    with live.zemi.db.transaction() as session:
        session.add_all([CodeAttempt(caller_key=key, order_id=None, succeeded=False) for _ in range(10)])
    return key



STEP_UP = "step-up"


def requests_for(reference: str, finding_id: int, sms_id: int, caller_key: str = "0" * 64,
                 unpaid: str = "00000000") -> dict:
    """One request per role-checked action: (method, url, form, the audit action it writes or None).
    A form's "code" STEP_UP is replaced by the operator's next authenticator code."""
    return {
        "unlock_codes": ("POST", f"/console/lockouts/callers/{caller_key}/unlock", {"reason": "buyer called"},
                         "caller_unlocked"),
        "cancel_order": ("POST", f"/console/orders/{unpaid}/cancel", {"reason": "asked by both", "code": STEP_UP},
                         "order_cancelled"),
        "read": ("GET", f"/console/orders/{reference}", None, None),
        "export": ("GET", "/console/orders.csv", None, "orders_exported"),
        "reveal": ("POST", f"/console/orders/{reference}/reveal", {"reason": "buyer called support"},
                   "revealed_parties"),
        "note_dispute": ("POST", f"/console/disputes/{reference}/note", {"note": "asked for photos"}, "dispute_noted"),
        "resolve_dispute": ("POST", f"/console/disputes/{reference}/preview",
                            {"outcome": "split", "to_seller": "700", "note": "half each"}, None),
        "resolve_finding": ("POST", f"/console/findings/{finding_id}/resolve", {"note": "checked, fine"},
                            "finding_resolved"),
        "manage_operators": ("POST", "/console/operators/setup/unlock", {}, "operator_unlocked"),
        "resend_sms": ("POST", f"/console/sms/{sms_id}/resend", {}, "sms_resent"),
    }


def test_every_role_may_do_exactly_what_its_role_allows(live, simulator, operators):
    reference = disputed_order(live, simulator)
    clients = {role: operators.client(operators.enrolled(f"{role}1", role)) for role in ROLES}
    operators.enrolled("setup", "viewer")
    unpaid = reference_in(live.dial(BUYER, "1", "0722000111", "900", "Sandals", "1")[-1])   # admins cancel it
    for role in ROLES:
        finding_id = open_finding(live, role)
        caller_key = lock_caller(live, f"+25473300{ROLES.index(role)}222")
        for action, (method, url, form, audited) in requests_for(reference, finding_id, stuck_sms(live, reference),
                                                                 caller_key, unpaid).items():
            before = audit_count(live, audited) if audited else 0
            client = clients[role]
            if form and form.get("code") == STEP_UP and operators.secrets.get(client.operator_name):
                form = {**form, "code": operators.step_up_code(client.operator_name)}
            response = client.get(url) if method == "GET" else post_form(client, url, form)
            allowed = action in ALLOWED[role]
            assert (response.status_code == 403) is not allowed, (role, action, response.status_code)
            assert response.status_code in ((200, 302) if allowed else (403,)), (role, action)
            if audited:
                assert audit_count(live, audited) == before + allowed, (role, action)
    assert "Resolve the dispute" not in clients["viewer"].get(f"/console/orders/{reference}").get_data(as_text=True)
    assert clients["viewer"].get("/console/operators").status_code == 403


def test_resolving_a_dispute_previews_the_shares_then_needs_the_code_again_and_names_the_operator(
        live, simulator, operators):
    reference = disputed_order(live, simulator)            # KES 1,500, the seller pays the KES 22 fee
    agent = operators.client(operators.enrolled("alice", "agent"))
    decision = {"outcome": "split", "to_seller": "1000", "note": "item half damaged"}
    preview = post_form(agent, f"/console/disputes/{reference}/preview", decision).get_data(as_text=True)
    # the core's split rule: the seller's share of the price less the fee they pay, the buyer the rest
    assert 'id="to-seller">KES 978<' in preview and 'id="to-buyer">KES 500<' in preview
    url = f"/console/disputes/{reference}/resolve"
    wrong = post_form(agent, url, {**decision, "code": "000000"})
    assert wrong.status_code == 400 and "nothing was done" in wrong.get_data(as_text=True)
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} disputed")
    done = post_form(agent, url, {**decision, "code": operators.step_up_code("alice")})
    assert done.status_code == 302, done.get_data(as_text=True)
    settle(live, simulator)
    page = agent.get(f"/console/orders/{reference}").get_data(as_text=True)
    assert "operator alice" in page and "item half damaged" in page and "dispute split" in page
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} settled")
    assert audit_count(live, "dispute_split") == 1
    again = post_form(agent, url, {**decision, "code": operators.step_up_code("alice")})
    said = again.get_data(as_text=True)
    assert again.status_code == 400 and "already resolved by alice" in said and "Nothing was done" in said
    assert live.cli("ledger", "check").exit_code == 0


def test_a_request_without_the_csrf_token_is_refused_and_does_nothing(live, simulator, operators):
    reference = disputed_order(live, simulator)
    agent = operators.client(operators.enrolled("alice", "agent"))
    refused = agent.post(f"/console/orders/{reference}/reveal", data={"reason": "curious"})
    assert refused.status_code == 400 and "254712345678" not in refused.get_data(as_text=True)
    forged = agent.post(f"/console/disputes/{reference}/note", data={"note": "x" * 5, "csrf": "forged"})
    assert forged.status_code == 400
    assert audit_count(live, "revealed_parties") == audit_count(live, "dispute_noted") == 0
    stranger = live.app.test_client()
    no_token = stranger.post("/console/login", data={"name": "alice", "password": "x"})
    assert no_token.status_code == 400 and "did not come from the console" in no_token.get_data(as_text=True)
    assert audit_count(live, "sign_in_refused") == 0     # refused before the password was even looked at


def test_a_viewer_signs_in_without_a_code_and_an_agent_not_without_one(live, operators):
    operators.enrolled("vera", "viewer")
    operators.enrolled("alice", "agent")
    assert operators.client("vera").get("/console/").status_code == 200
    client = live.app.test_client()
    refused = post_form(client, "/console/login", {"name": "alice", "password": "correct horse battery", "code": ""})
    assert refused.status_code == 401 and client.get("/console/").status_code == 302


@pytest.mark.parametrize("column,minutes", [("seen_at", 16), ("created_at", 8 * 60 + 1)])
def test_a_session_ends_when_idle_and_at_its_absolute_age(live, operators, column, minutes):
    client = operators.client(operators.enrolled("vera", "viewer"))
    assert client.get("/console/").status_code == 200
    with live.zemi.db.transaction() as session:   # as if that much time had passed since
        for row in session.scalars(select(OperatorSession)):
            setattr(row, column, getattr(row, column) - timedelta(minutes=minutes))
    ended = client.get("/console/")
    assert ended.status_code == 302 and ended.headers["Location"].endswith("/console/login")
    with live.zemi.db.transaction() as session:
        assert session.scalar(text("SELECT COUNT(*) FROM operator_sessions")) == 0


def test_repeated_wrong_passwords_lock_the_account_until_an_admin_unlocks_it(live, operators):
    operators.enrolled("vera", "viewer")
    admin = operators.client(operators.enrolled("root1", "admin"))
    stranger = live.app.test_client()
    for _ in range(5):
        assert post_form(stranger, "/console/login", {"name": "vera", "password": "wrong one"}).status_code == 401
    locked = post_form(stranger, "/console/login", {"name": "vera", "password": "correct horse battery"})
    assert locked.status_code == 401 and "locked" in locked.get_data(as_text=True)
    with live.zemi.db.transaction() as session:
        assert session.scalar(text("SELECT locked_until IS NOT NULL FROM operators WHERE name = 'vera'"))
    assert post_form(admin, "/console/operators/vera/unlock", {}, from_page="/console/operators").status_code == 302
    assert operators.client("vera").get("/console/").status_code == 200
    assert audit_count(live, "sign_in_refused") == 6 and audit_count(live, "operator_unlocked") == 1


def test_signing_out_ends_the_session_and_is_audited(live, operators):
    client = operators.client(operators.enrolled("vera", "viewer"))
    assert post_form(client, "/console/logout", {}).status_code == 302
    assert client.get("/console/").status_code == 302 and audit_count(live, "signed_out") == 1


def test_many_failures_from_one_address_are_refused_whatever_the_name(live, operators):
    operators.enrolled("vera", "viewer")
    stranger = live.app.test_client()
    for attempt in range(20):      # CONSOLE_MAX_FAILURES_PER_ADDRESS, spread over names that may not exist
        assert post_form(stranger, "/console/login", {"name": f"guess{attempt}", "password": "x"}).status_code == 401
    throttled = post_form(stranger, "/console/login", {"name": "vera", "password": "correct horse battery"})
    assert throttled.status_code == 401 and "from this address" in throttled.get_data(as_text=True)
    other_place = live.app.test_client()
    other_place.environ_base["REMOTE_ADDR"] = "10.0.0.7"
    assert post_form(other_place, "/console/login", {"name": "vera", "password": "correct horse battery"}) \
        .status_code == 302


def test_an_admin_resets_an_operator_who_lost_their_phone(live, operators):
    agent = operators.client(operators.enrolled("alice", "agent"))
    admin = operators.client(operators.enrolled("root1", "admin"))
    reset = post_form(admin, "/console/operators/alice/reset", {}, from_page="/console/operators")
    code = re.search(r'id="enrolment-code">([^<]+)<', reset.get_data(as_text=True)).group(1)
    assert agent.get("/console/").status_code == 302                      # her sessions ended
    refused = post_form(live.app.test_client(), "/console/login",
                        {"name": "alice", "password": PASSWORD, "code": operators.step_up_code("alice")})
    assert refused.status_code == 401                                      # the old password and key are gone
    page = post_form(live.app.test_client(), "/console/enrol", {"token": code}, from_page="/console/enrol")
    assert "otpauth://totp/Zemi%20Escrow:alice" in page.get_data(as_text=True)
    assert audit_count(live, "operator_reset") == 1


def test_a_disabled_operator_is_signed_out_and_cannot_sign_in(live, operators):
    client = operators.client(operators.enrolled("vera", "viewer"))
    result = live.cli("operators", "disable", "vera")
    assert result.exit_code == 0, result.output
    assert client.get("/console/").status_code == 302
    refused = post_form(live.app.test_client(), "/console/login", {"name": "vera", "password": "correct horse battery"})
    assert refused.status_code == 401


def test_operators_add_prints_a_one_time_enrolment_link_with_the_totp_uri(live):
    result = live.cli("operators", "add", "bob", "--role", "agent")
    assert result.exit_code == 0, result.output
    code = enrolment_code(result.output)
    client = live.app.test_client()
    page = post_form(client, "/console/enrol", {"token": code}, from_page="/console/enrol").get_data(as_text=True)
    assert "otpauth://totp/" in client.get(f"/console/enrol/{code}").get_data(as_text=True)   # as a link, too
    assert "otpauth://totp/Zemi%20Escrow:bob?secret=" in page and "<svg" in page
    assert live.cli("operators", "add", "bob", "--role", "viewer").exit_code == 1
    assert live.cli("operators", "add", "buyer", "--role", "viewer").exit_code == 1   # reserved for the timeline
    refused = post_form(client, "/console/enrol", {"token": code, "password": "short", "again": "short"},
                        from_page="/console/enrol")
    assert refused.status_code == 400 and "12 to 200 characters" in refused.get_data(as_text=True)
    unknown = post_form(client, "/console/enrol", {"token": "not-a-code"}, from_page="/console/enrol")
    assert unknown.status_code == 400 and "unknown, used or expired" in unknown.get_data(as_text=True)
    assert BUYER not in page
