"""bench/ussd.py's in-process part runs whole sessions without an error (no timing is judged here)."""
from app import create_app
from bench import ussd as bench
from tests.conftest import TEST_DATA_KEY


def test_the_benchmark_drives_whole_pay_and_code_sessions(database_url, redis_url, tmp_path):
    app = create_app(bench.app_settings(database_url, redis_url, str(tmp_path / "instance"), TEST_DATA_KEY))
    try:
        codes = bench.seed_code_orders(app, 1, 2, "T", threads=1)
        assert all(len(code) == 6 and code.isdigit() for _, code in codes)
        stats = bench.run_in_process(app, bench.scripts_for(1, codes, "T"), duration=60)
    finally:
        app.extensions["zemi"].db.dispose()
    assert stats.errors == 0, stats.error_samples
    assert (stats.sessions, stats.hops) == (4, 20)   # 2 x "pay a seller" (6 hops) + 2 x "enter delivery code" (4)
    assert set(stats.by_label) == set(bench.PAY_LABELS + bench.CODE_LABELS)


def test_the_in_process_floor_answers_every_hop(redis_url, capsys):
    p50 = bench.in_process_floor(redis_url, "T", duration=30, pairs=12)
    printed = capsys.readouterr().out
    assert p50 > 0
    # 24 sessions less 20 for warm-up: 2 x pay (6 hops) + 2 x code (4 hops), each reply read
    assert "floor in process (1 GET + 1 SET): 20 hops, 4 sessions" in printed and "errors 0" in printed


def test_the_light_conversation_cancels_at_the_summary_on_zemi(database_url, redis_url, tmp_path):
    """bench/side_by_side.py's light load: a returning number starts paying and cancels, on our screens."""
    from bench import side_by_side

    app = create_app(bench.app_settings(database_url, redis_url, str(tmp_path / "instance"), TEST_DATA_KEY))
    try:
        phones = side_by_side.prewarm_light_numbers(app, 3, "T")
        stats = bench.run_in_process(app, [bench.light_script(phone, index, "T") for index, phone in
                                           enumerate(phones * 2)], duration=60)
    finally:
        app.extensions["zemi"].db.dispose()
    assert stats.errors == 0, stats.error_samples
    assert (stats.sessions, stats.hops) == (6, 36)
    assert set(stats.by_label) == set(bench.LIGHT_LABELS)
