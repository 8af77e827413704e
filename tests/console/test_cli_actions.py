"""`flask` commands that act write an audit entry naming who (--as NAME, or the shell's user), and the
order's timeline shows that name; times printed are East Africa Time, labelled."""
import getpass

from sqlalchemy import select

from escrow.models import AuditEntry
from tests.console.test_console_access import lock_caller, open_finding
from tests.e2e.test_journey import BUYER, reference_in, settle
from tests.e2e.test_operator_commands import disputed_order


def audit_rows(live, action: str) -> list[tuple]:
    with live.zemi.db.transaction() as session:
        return session.execute(select(AuditEntry.operator, AuditEntry.role, AuditEntry.remote_addr,
                                      AuditEntry.order_reference).where(AuditEntry.action == action)).all()


def test_a_dispute_resolved_from_the_shell_names_the_operator_in_timeline_and_audit(live, simulator):
    reference = disputed_order(live, simulator)
    result = live.cli("disputes", "resolve", reference, "--refund", "--note", "never sent", "--as", "wanjiru")
    assert result.exit_code == 0, result.output
    shown = live.cli("orders", "show", reference).output
    assert "dispute_refunded: disputed -> refunding by wanjiru (never sent)" in shown and " EAT " in shown
    assert audit_rows(live, "dispute_refund") == [("wanjiru", "cli", f"shell:{getpass.getuser()}", reference)]


def test_without_as_the_shell_user_is_named(live, simulator):
    reference = disputed_order(live, simulator)
    assert live.cli("disputes", "resolve", reference, "--release", "--note", "photos fine").exit_code == 0
    assert audit_rows(live, "dispute_release")[0][0] == getpass.getuser()[:12]
    assert live.cli("disputes", "resolve", reference, "--release", "--note", "x", "--as", "no spaces!").exit_code == 2


def test_findings_cancellations_and_unlocks_from_the_shell_are_audited(live, simulator):
    finding_id = open_finding(live, "cli")
    assert live.cli("reconcile", "resolve", str(finding_id), "--note", "checked", "--as", "otieno").exit_code == 0
    assert audit_rows(live, "finding_resolved")[0][:2] == ("otieno", "cli")
    unpaid = reference_in(live.dial(BUYER, "1", "0722000111", "900", "Sandals", "1")[-1])
    cancelled = live.cli("orders", "cancel", unpaid, "--reason", "buyer asked", "--as", "otieno")
    assert cancelled.output.strip() == f"{unpaid} cancelled", cancelled.output
    assert "cancelled_by_operator: awaiting_payment -> cancelled by otieno (buyer asked)" in \
        live.cli("orders", "show", unpaid).output
    assert audit_rows(live, "order_cancelled") == [("otieno", "cli", f"shell:{getpass.getuser()}", unpaid)]
    lock_caller(live, BUYER)
    listed = live.cli("codes", "list").output
    assert "0712***678 10 wrong codes" in listed and " EAT" in listed
    assert live.cli("codes", "unlock-caller", "0712345678", "--reason", "called", "--as", "otieno").exit_code == 0
    assert live.cli("codes", "list").output.strip() == "no lockouts"
    assert audit_rows(live, "caller_unlocked")[0][:2] == ("otieno", "cli")


def test_flask_listings_print_east_africa_time(live, simulator):
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    for args in (("orders", "list"), ("sms", "list"), ("callbacks", "list"), ("orders", "show", reference)):
        output = live.cli(*args).output
        assert " EAT" in output and "UTC" not in output, args
    open_finding(live, "eat")
    assert " EAT [test]" in live.cli("reconcile", "--findings").output


def test_an_sms_sent_again_and_an_alert_check_from_the_shell(live, simulator):
    from tests.console.test_console_access import stuck_sms
    reference = disputed_order(live, simulator)
    stuck = stuck_sms(live, reference)
    resent = live.cli("sms", "resend", str(stuck), "--as", "otieno")
    assert resent.exit_code == 0 and resent.output.startswith(f"sms #{stuck} queued again as #"), resent.output
    assert audit_rows(live, "sms_resent") == [("otieno", "cli", f"shell:{getpass.getuser()}", reference)]
    assert live.cli("sms", "resend", str(stuck)).exit_code == 1                    # once only
    live.zemi.redis.flushdb()                                                      # no worker heartbeat
    assert "worker-stale" in live.cli("alerts", "check").output
    assert live.cli("alerts", "check").output.strip() == "no new alerts"           # not again within the hour
    assert "worker-stale: the worker is not running" in live.cli("alerts", "list").output
