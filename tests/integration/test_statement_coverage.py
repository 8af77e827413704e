"""How far back the M-Pesa statement has been reconciled without a gap (escrow.statement.runs)."""
from datetime import datetime, timedelta

from escrow.statement.runs import COMPLETE, FAILED, covered_until, covers, finish_run, start_run

T0 = datetime(2026, 12, 1, 8, 0, 0)


def _run(session, start_min, end_min, status=COMPLETE, shortcode="174379"):
    run_id = start_run(session, shortcode=shortcode, window_start=T0 + timedelta(minutes=start_min),
                       window_end=T0 + timedelta(minutes=end_min))
    finish_run(session, run_id, status=status, lines_seen=0)
    return run_id


def test_nothing_is_covered_before_a_complete_run(database):
    with database.transaction() as session:
        assert covered_until(session) is None
        _run(session, 0, 30, status=FAILED)
        assert covered_until(session) is None
        assert not covers(session, T0, T0)


def test_overlapping_and_touching_windows_extend_the_coverage(database):
    with database.transaction() as session:
        _run(session, 0, 30)
        _run(session, 25, 60)
        _run(session, 60, 90)
        assert covered_until(session) == T0 + timedelta(minutes=90)
        assert covers(session, T0 + timedelta(minutes=10), T0 + timedelta(minutes=80))


def test_a_gap_stops_the_coverage_until_it_is_filled(database):
    with database.transaction() as session:
        _run(session, 0, 30)
        _run(session, 40, 90)
        _run(session, 30, 40, status=FAILED)
        assert covered_until(session) == T0 + timedelta(minutes=30)
        assert not covers(session, T0 + timedelta(minutes=20), T0 + timedelta(minutes=50))
        _run(session, 28, 42)
        assert covered_until(session) == T0 + timedelta(minutes=90)


def test_a_running_run_covers_nothing(database):
    with database.transaction() as session:
        _run(session, 0, 30)
        start_run(session, shortcode="174379", window_start=T0 + timedelta(minutes=30),
                  window_end=T0 + timedelta(minutes=60))
        assert covered_until(session) == T0 + timedelta(minutes=30)


def test_every_shortcode_must_be_covered(database):
    with database.transaction() as session:
        _run(session, 0, 60, shortcode="174379")
        _run(session, 0, 20, shortcode="600000")
        assert covered_until(session) == T0 + timedelta(minutes=20)
        assert covered_until(session, "174379") == T0 + timedelta(minutes=60)
        assert not covers(session, T0, T0 + timedelta(minutes=30))
