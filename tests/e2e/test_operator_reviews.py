"""What an operator reviews from the command line: reconciliation findings and SMS that never arrived."""
from datetime import timedelta

from sqlalchemy import select, update

from escrow.db import utcnow
from escrow.models import InboundCallback, SmsMessage
from escrow.notify import queue_sms
from escrow.findings import record_finding

BUYER, SELLER = "0712345678", "0722000111"


def record(live, key, summary):
    with live.zemi.db.transaction() as session:
        assert record_finding(session, key, order_id=None, summary=summary)
        return session.scalar(select(InboundCallback.id).where(InboundCallback.dedupe_key == f"finding:{key}"))


def test_a_resolved_finding_keeps_its_note_and_leaves_the_open_list(live):
    lost = record(live, "payout-unknown:7", "payout Z1 still unknown after 6 status checks; never re-sent")
    other = record(live, "orphan:9", "stk callback #9 never matched any request")

    listed = live.cli("reconcile", "--findings")
    assert listed.exit_code == 0, listed.output
    assert "2 open finding(s)" in listed.output and f"#{lost} " in listed.output and f"#{other} " in listed.output

    done = live.cli("reconcile", "resolve", str(lost), "--note", "paid by hand, receipt SG632NMUAB")
    assert done.exit_code == 0, done.output
    assert f"finding #{lost} resolved (payout-unknown" in done.output

    listed = live.cli("reconcile", "--findings").output
    assert "1 open finding(s)" in listed and f"#{lost} " not in listed and f"#{other} " in listed
    assert [f["id"] for f in live.zemi.service.open_findings()] == [other]

    everything = live.cli("reconcile", "--findings", "--all").output
    assert "1 open finding(s)" in everything and f"#{other} " in everything
    [line] = [line for line in everything.splitlines() if f"#{lost} " in line]
    assert "resolved" in line and "paid by hand, receipt SG632NMUAB" in line
    assert live.cli("reconcile", "--all").output == everything  # --all lists findings by itself

    with live.zemi.db.transaction() as session:
        row = session.get(InboundCallback, lost)
        assert (row.status, row.note) == ("resolved", "paid by hand, receipt SG632NMUAB")
        # the same problem seen again is not re-opened: the finding's key is kept
        assert not record_finding(session, "payout-unknown:7", order_id=None, summary="again")


def test_resolving_needs_a_note_and_an_open_finding(live):
    finding = record(live, "orphan:3", "stk callback #3 never matched any request")
    assert live.cli("reconcile", "resolve", str(finding)).exit_code == 2            # --note is required
    assert live.cli("reconcile", "resolve", str(finding), "--note", " ").exit_code == 1
    assert live.cli("reconcile", "resolve", "99999", "--note", "x").exit_code == 1   # no such finding
    callback = live.zemi.service.store_callback(source="stk", body=b"{}", remote_addr=None)
    assert live.cli("reconcile", "resolve", str(callback), "--note", "x").exit_code == 1  # not a finding
    assert live.cli("reconcile", "resolve", str(finding), "--note", "checked").exit_code == 0
    again = live.cli("reconcile", "resolve", str(finding), "--note", "checked twice")
    assert again.exit_code == 1 and "not open" in again.output


def sms_aged(live, phone, status, minutes_old) -> int:
    """A message to `phone` in `status`, created `minutes_old` minutes ago."""
    with live.zemi.db.transaction() as session:
        sms_id = queue_sms(session, live.zemi.core, phone=phone, kind="stopped", order_id=None)
        now = session.scalar(select(utcnow()))
        session.execute(update(SmsMessage).where(SmsMessage.id == sms_id).values(
            status=status, created_at=now - timedelta(minutes=minutes_old)))
    return sms_id


def listed_ids(output: str) -> set[int]:
    return {int(line.split()[0][1:]) for line in output.splitlines() if line.startswith("#")}


def test_sms_list_undelivered_shows_the_stuck_messages_only(live):
    stuck = {status: sms_aged(live, BUYER, status, 45)
             for status in ("queued", "sending", "sent", "failed", "undelivered")}
    fine = [sms_aged(live, BUYER, status, 45) for status in ("delivered", "recorded")]
    recent = sms_aged(live, SELLER, "sent", 5)

    result = live.cli("sms", "list", "--undelivered")
    assert result.exit_code == 0, result.output
    assert listed_ids(result.output) == set(stuck.values())
    assert "0712***678" in result.output and BUYER not in result.output
    assert all(" 45 min " in line or " 44 min " in line for line in result.output.splitlines())

    wider = live.cli("sms", "list", "--undelivered", "--older-than", "2").output
    assert listed_ids(wider) == set(stuck.values()) | {recent}
    assert listed_ids(live.cli("sms", "list", "--undelivered", "--older-than", "2", "--to", SELLER).output) == {recent}
    assert live.cli("sms", "list", "--undelivered", "--older-than", "60").output.strip() == "no undelivered messages"
    assert set(fine) <= listed_ids(live.cli("sms", "list").output)  # the full list is unchanged
    assert live.cli("sms", "list", "--older-than", "5").exit_code == 2
