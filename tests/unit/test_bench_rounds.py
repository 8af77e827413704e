"""bench/ussd.py --rounds: each round starts with the next server, every pay run gets numbers of its own,
and the summary counts the rounds in which each of issue 13's goals held (no timing is judged here)."""
import pytest

from bench import side_by_side
from bench.stats import Stats
from bench.ussd import parse_args


def measured(name: str, hops: int, p99_ms: float) -> Stats:
    """A run of 1 s with `hops` hops, 98% at 1 ms and the slowest 2% at `p99_ms`."""
    slow = max(1, hops // 50)
    return Stats(name, seconds=1.0, latencies=[0.001] * (hops - slow) + [p99_ms / 1000] * slow)


def a_round(zemi_hops: int, zemi_p99_ms: float) -> dict:
    return {("pay", 100, "zemi"): measured("zemi", zemi_hops, zemi_p99_ms),
            ("pay", 100, "anysd"): measured("anysd", 1000, 100.0),
            ("pay", 100, "floor"): measured("floor", 2000, 50.0)}


def test_each_round_starts_with_the_next_server():
    servers = ["zemi", "anysd", "floor", "zemi-hiredis"]
    assert [side_by_side.in_turn(servers, r)[0] for r in range(5)] == ["zemi", "anysd", "floor", "zemi-hiredis", "zemi"]
    assert sorted(side_by_side.in_turn(servers, 2)) == sorted(servers)


def test_every_pay_run_of_every_round_has_numbers_of_its_own():
    span = side_by_side.run_span(2.0, 8.0)
    assert span >= 10 * side_by_side.SESSIONS_PER_SECOND
    assert side_by_side.pay_runs_fit(5, 2, 4, span)                       # the defaults, five rounds
    assert not side_by_side.pay_runs_fit(5, 2, 4, side_by_side.run_span(2.0, 120.0))
    assert parse_args(["--rounds", "3"]).rounds == 3


def test_too_many_rounds_for_the_numbers_is_refused(capsys):
    try:
        parse_args(["--rounds", "5", "--duration-seconds", "120"])
    except SystemExit as exit_:
        assert exit_.code == 2
    else:
        raise AssertionError("parse_args accepted more pay runs than there are numbers")
    assert "too many pay runs" in capsys.readouterr().err


def test_the_summary_counts_the_rounds_each_goal_held(capsys):
    rounds = [a_round(1300, 90.0), a_round(1200, 120.0), a_round(900, 80.0)]
    assert side_by_side.goal_ratios(rounds[0], "pay", 100) == pytest.approx((1.3, 0.65, 0.9))
    assert side_by_side.goals_held("pay", (1.3, 0.65, 0.9)) == (True, True, True)
    assert side_by_side.goals_held("pay", (0.9, 0.45, 1.2)) == (False, False, False)
    assert side_by_side.goal_ratios(rounds[0], "light", 100) is None   # a cell not run
    side_by_side.print_rounds(rounds, [100])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| pay | 100 |")]
    assert row == ["| pay | 100 | 1.30 / 1.20 / 0.90, median 1.20 | 0.65 / 0.60 / 0.45, median 0.60 "
                   "| 0.90 / 1.20 / 0.80, median 0.90 | 2/3, 2/3, 2/3 |"]


class Booting:
    """A server whose CPU counter climbs by 1 s per reading `busy` times, then stays put."""

    def __init__(self, busy: int):
        self.busy, self.used = busy, 0.0

    def cpu_seconds(self) -> float:
        if self.busy:
            self.busy -= 1
            self.used += 1.0
        return self.used


def test_the_first_run_waits_until_every_server_has_booted():
    servers = [("zemi", Booting(5)), ("anysd", Booting(1))]
    waited, quiet = side_by_side.settle(servers, window=0.01, limit=5.0)
    assert quiet and servers[0][1].busy == 0 and waited >= 0.02   # two busy windows before a quiet one


def test_a_server_that_never_quietens_is_measured_anyway_after_the_limit():
    waited, quiet = side_by_side.settle([("zemi", Booting(10_000))], window=0.01, limit=0.1)
    assert not quiet and waited >= 0.1
