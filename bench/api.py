"""JSON API benchmark (issue 16), in process beside USSD's pay sessions, on the same database and Redis.

    .venv/bin/python -m bench.api [--database-url postgresql://.../zemi_bench_api] [--redis-url ...] [--orders 300]

Through Flask's test client, one request after another: POST /v1/orders (a fresh Idempotency-Key and a
buyer number of its own each), GET /v1/orders/{reference} and GET /v1/orders/{reference}/payment; then
the same number of USSD "pay a seller" sessions (bench/ussd.py's scripts). Prints requests/s and p50/p99
per kind. Phone tokens are made first (POST /v1/verifications and its check), not measured. The database
is dropped and re-migrated (its name must contain "bench"). Nothing is asserted: the script prints figures.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ussd import (ROLE_PAY_BUYER, ROLE_PAY_SELLER, Stats, app_settings, clear_redis, local, ms,  # noqa: E402
                        number, pay_script, percentile, prepare_postgres, print_stats, run_in_process)

API_PHASE, USSD_PHASE = 6, 7


def api_client(app):
    from tests.api.conftest import ApiClient
    result = app.test_cli_runner().invoke(args=["apikeys", "create", "bench", "--scopes",
                                                "verifications,orders:read,orders:write"])
    return ApiClient(app, result.stdout.strip().splitlines()[0])


def timed(stats: Stats, label: str, call):
    started = time.perf_counter()
    response = call()
    stats.add(label, time.perf_counter() - started)
    if response.status_code >= 300:
        stats.error(f"{label}: HTTP {response.status_code} {response.get_data(as_text=True)[:100]}")
    return response


def run_api(app, shop, count: int, duration: float) -> Stats:
    tokens = [shop.verify(local(number(API_PHASE, ROLE_PAY_BUYER, i))) for i in range(count)]
    stats = Stats("api in process")
    cpu_began, began = time.process_time(), time.perf_counter()
    for index, token in enumerate(tokens):
        if time.perf_counter() - began > duration:
            stats.note = "time limit reached"
            break
        body = {"seller_phone": local(number(API_PHASE, ROLE_PAY_SELLER, index)), "amount": 500 + index % 40 * 25,
                "item": "Bench kitenge"}
        made = timed(stats, "POST /v1/orders", lambda: shop.post("/v1/orders", body, token=token))
        reference = (made.json or {}).get("reference", "00000000")
        timed(stats, "GET order", lambda: shop.get(f"/v1/orders/{reference}", token=token))
        timed(stats, "GET payment", lambda: shop.get(f"/v1/orders/{reference}/payment", token=token))
        stats.sessions += 1
    stats.seconds = time.perf_counter() - began
    stats.client_cpu = time.process_time() - cpu_began
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/zemi_bench_api")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--orders", type=int, default=300, help="API orders, and USSD pay sessions (at most 5000)")
    parser.add_argument("--duration-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    count, duration = max(10, min(args.orders, 5000)), max(1.0, min(args.duration_seconds, 300.0))
    from app import create_app
    from escrow.vault import new_data_key

    prepare_postgres(args.database_url)
    clear_redis(args.redis_url)
    settings = app_settings(args.database_url, args.redis_url, tempfile.mkdtemp(prefix="zemi-bench-api-"),
                            new_data_key())
    app = create_app({**settings, "API_RATE_PER_MINUTE": "1000000"})
    print(f"Zemi JSON API benchmark {time.strftime('%Y-%m-%d %H:%M:%S')}  database {args.database_url}")
    try:
        api = run_api(app, api_client(app), count, duration)
        print_stats(api)
        for label, values in api.by_label.items():
            print(f"    {label:<16} n={len(values):<6} p50 {ms(percentile(values, 0.5)):>10}  "
                  f"p99 {ms(percentile(values, 0.99)):>10}")
        run_tag = f"{int(time.time()) % 100_000:05d}"
        ussd = run_in_process(app, [pay_script(USSD_PHASE, i, run_tag) for i in range(count)], duration,
                              name="ussd pay sessions in process")
        print_stats(ussd)
        print(f"  an order placed: API {ms(percentile(api.by_label['POST /v1/orders'], 0.5))} p50 (one request); "
              f"USSD {ms(sum(ussd.latencies) / max(1, ussd.sessions))} mean per session "
              f"({ussd.hops // max(1, ussd.sessions)} hops)")
    finally:
        app.extensions["zemi"].db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


