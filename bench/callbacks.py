"""STK callback intake benchmark (issue 13): ours against a floor, side by side in one run.

    .venv/bin/python -m bench.callbacks [--database-url ...] [--redis-url ...] [--concurrency 20] ...

Three servers under the same gunicorn settings (sync workers, 2 by default), one after another:
  (1) ours, applying inline: every callback a fresh STK success for an order awaiting payment
      (stored, then applied: the order funded, ledger, code SMS), answered once applied;
  (2) ours, store-then-ack: the same route with MPESA_ALLOWED_IPS set so that 127.0.0.1 is not
      allowed: the raw body is kept in one INSERT and answered, nothing applied. This is the HTTP
      side of "acknowledge once stored, the worker applies"; the worker would then pay the apply
      cost of (1) less (2) per callback;
  (3) the floor (bench/floor_app.py): the body kept with one autocommit INSERT, then 200.
Each is driven closed loop (--concurrency connections, no think time) for --duration-seconds, then
hit by a burst of --burst distinct callbacks sent at once (one connection each): all must be
answered 200, and afterwards every one of them must be a row (none lost). Prints callbacks/s,
p50/p99, server CPU per callback, and the ratios. Nothing is asserted.
The benchmark database is dropped and re-migrated (its name must contain "bench").
"""
import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ussd import (BENCH_CALLBACK_TOKEN, Gunicorn, ms, number, percentile,  # noqa: E402
                        prepare_postgres)

ROLE_BUYER, ROLE_SELLER = 6, 7
PRICE = 1_000


def stk_success(checkout_id: str, amount: int, receipt: str) -> bytes:
    return json.dumps({"Body": {"stkCallback": {
        "MerchantRequestID": "bench-1", "CheckoutRequestID": checkout_id, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": amount},
                                      {"Name": "MpesaReceiptNumber", "Value": receipt},
                                      {"Name": "PhoneNumber", "Value": 254700000000}]}}}}).encode()


def seed_sent_attempts(app, phase: int, count: int, run_tag: str, threads: int = 2) -> list:
    """`count` orders awaiting payment whose STK push Daraja accepted: [(attempt id, checkout id, charge)]."""
    from sqlalchemy import select, update

    from escrow.models import PaymentAttempt

    components = app.extensions["zemi"]

    def one(index: int):
        view = components.service.create_order(buyer=number(phase, ROLE_BUYER, index),
                                               seller=number(phase, ROLE_SELLER, index), price=PRICE,
                                               item="Bench callback")
        checkout = f"ws_CO_cb{run_tag}{phase}{index:06d}"
        with components.db.transaction() as session:
            attempt_id, charge = session.execute(
                select(PaymentAttempt.id, PaymentAttempt.amount)
                .where(PaymentAttempt.order_id == _order_id(session, view.reference))).one()
            session.execute(update(PaymentAttempt).where(PaymentAttempt.id == attempt_id)
                            .values(status="sent", checkout_request_id=checkout))
        return attempt_id, checkout, charge

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(pool.map(one, range(count)))


def _order_id(session, reference: str) -> int:
    from sqlalchemy import select

    from escrow.models import Order
    return session.scalar(select(Order.id).where(Order.reference == reference))


class Load:
    """Requests to send, one each, handed out to the driving threads."""

    def __init__(self, requests: list):
        self.requests, self.next, self.lock = requests, 0, threading.Lock()

    def take(self):
        with self.lock:
            if self.next >= len(self.requests):
                return None
            self.next += 1
            return self.requests[self.next - 1]


def drive(port: int, load: Load, *, concurrency: int, duration: float) -> dict:
    latencies, errors, lock = [], [], threading.Lock()
    deadline = time.perf_counter() + duration

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.perf_counter() < deadline:
                item = load.take()
                if item is None:
                    break
                path, body = item
                started = time.perf_counter()
                try:
                    conn.request("POST", path, body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    with lock:
                        errors.append(type(exc).__name__)
                    continue
                with lock:
                    (latencies.append(time.perf_counter() - started) if status == 200 else errors.append(status))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 60)
    return {"seconds": min(time.perf_counter(), deadline) - began, "latencies": latencies, "errors": errors}


def burst(port: int, requests: list) -> dict:
    """Every request at once, one connection each, released together."""
    latencies, errors, lock = [], [], threading.Lock()
    gate = threading.Barrier(len(requests))

    def one(path, body):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.connect()
            gate.wait(timeout=60)
            started = time.perf_counter()
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            with lock:
                (latencies.append(time.perf_counter() - started) if response.status == 200
                 else errors.append(response.status))
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as exc:
            with lock:
                errors.append(type(exc).__name__)
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=item, daemon=True) for item in requests]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return {"seconds": time.perf_counter() - began, "latencies": latencies, "errors": errors}


def report(name: str, run: dict, cpu: float | None) -> float:
    count = len(run["latencies"])
    rate = count / run["seconds"] if run["seconds"] else 0.0
    line = (f"  {name:<34} {count:>6} answered in {run['seconds']:.1f} s -> {rate:7.0f} callbacks/s; "
            f"p50 {ms(percentile(run['latencies'], 0.5))}, p99 {ms(percentile(run['latencies'], 0.99))}; "
            f"errors {len(run['errors'])}")
    if cpu is not None and count:
        line += f"; server CPU {cpu / count * 1000:.2f} ms per callback"
    print(line)
    return rate


def count_rows(database_url: str, sql: str) -> int:
    import psycopg
    from sqlalchemy.engine import make_url

    from escrow.db import normalize_database_url
    url = make_url(normalize_database_url(database_url)).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        cursor = connection.execute(sql)
        while cursor.nextset():
            pass
        return cursor.fetchone()[0]


def measure(label: str, server: Gunicorn, closed: list, bursting: list, args) -> tuple[float, dict]:
    drive(server.port, Load(closed[:args.warmup]), concurrency=args.concurrency, duration=30)   # warm-up
    cpu = server.cpu_seconds()
    run = drive(server.port, Load(closed[args.warmup:]), concurrency=args.concurrency, duration=args.duration_seconds)
    cpu = None if cpu is None else server.cpu_seconds() - cpu
    rate = report(f"{label}, closed loop x{args.concurrency}", run, cpu)
    shot = burst(server.port, bursting)
    report(f"{label}, burst of {len(bursting)}", shot, None)
    return rate, shot


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/zemi_bench",
                        help="PostgreSQL (name must contain 'bench'; dropped and re-migrated)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--duration-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--orders", type=int, default=2500, help="orders seeded for the inline run (closed + burst)")
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=100, help="callbacks sent before measuring")
    args = parser.parse_args(argv)
    args.orders = max(args.orders, args.burst + args.warmup + 1)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from app import create_app
    from bench.ussd import app_settings
    from escrow.vault import new_data_key

    run_tag = f"{int(time.time()) % 100_000:05d}"
    workdir = Path(tempfile.mkdtemp(prefix="zemi-bench-cb-"))
    settings = {**app_settings(args.database_url, args.redis_url, str(workdir / "instance"), new_data_key()),
                "STK_DELAY_SECONDS": "0"}
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(f"Zemi STK callback intake benchmark  {time.strftime('%Y-%m-%d %H:%M:%S')}  cpus={os.cpu_count()}  "
          f"load={tuple(round(x, 2) for x in load)}  gunicorn sync x{args.workers}")
    prepare_postgres(args.database_url)
    app = create_app(settings)
    try:
        began = time.perf_counter()
        seeded = seed_sent_attempts(app, 8, args.orders, run_tag)
        print(f"  seeded {len(seeded)} orders awaiting payment in {time.perf_counter() - began:.1f} s")
    finally:
        app.extensions["zemi"].db.dispose()
    token = BENCH_CALLBACK_TOKEN

    def ours(items):
        return [(f"/hooks/stk/{token}/a{attempt}", stk_success(checkout, charge, f"R{run_tag}{index:07d}"))
                for index, (attempt, checkout, charge) in items]

    indexed = list(enumerate(seeded))
    burst_items, closed_items = indexed[:args.burst], indexed[args.burst:]
    gunicorn = dict(workers=args.workers, threads=1, worker_class="sync")
    env = {**os.environ, **settings}
    results = {}
    with Gunicorn("app:create_app()", env, log_path=workdir / "inline.log", **gunicorn) as server:
        results["inline"] = measure("ours, apply inline", server, ours(closed_items), ours(burst_items), args)
    applied = count_rows(args.database_url, "SELECT count(*) FROM inbound_callbacks WHERE source = 'stk' "
                                            "AND status = 'applied'")
    funded = count_rows(args.database_url, "SELECT count(*) FROM payments_received WHERE outcome = 'funded'")

    stored_env = {**env, "MPESA_ALLOWED_IPS": "192.0.2.0/24"}   # 127.0.0.1 is not allowed: kept, not applied
    fake = [(f"/hooks/stk/{token}/a{index + 1}", stk_success(f"ws_CO_st{run_tag}{index:07d}", PRICE, "X"))
            for index in range(len(seeded))]
    with Gunicorn("app:create_app()", stored_env, log_path=workdir / "stored.log", **gunicorn) as server:
        results["stored"] = measure("ours, store then ack", server, fake[args.burst:], fake[:args.burst], args)
    kept = count_rows(args.database_url, "SELECT count(*) FROM inbound_callbacks WHERE status = 'rejected'")

    count_rows(args.database_url, "CREATE TABLE IF NOT EXISTS floor_callbacks (id bigserial PRIMARY KEY, body text);"
                                  " SELECT 0")   # before its workers start: they would race to create it
    floor_env = {**os.environ, "REDIS_URL": args.redis_url,
                 "FLOOR_DATABASE_URL": args.database_url.replace("postgresql+psycopg://", "postgresql://")}
    floor = [(f"/hooks/floor/{token}", body) for _, body in fake]
    with Gunicorn("bench.floor_app:create_app()", floor_env, log_path=workdir / "floor.log", **gunicorn) as server:
        results["floor"] = measure("floor (1 INSERT + 200)", server, floor[args.burst:], floor[:args.burst], args)
    floored = count_rows(args.database_url, "SELECT count(*) FROM floor_callbacks")

    answered = {name: len(shot["latencies"]) for name, (_, shot) in results.items()}
    print(f"\n  rows after: inline {applied} callbacks applied, {funded} orders funded; store-then-ack {kept} kept; "
          f"floor {floored} kept")
    print(f"  burst answered 200: " + ", ".join(f"{name} {count}/{args.burst}" for name, count in answered.items()))
    floor_rate = results["floor"][0]
    for name in ("inline", "stored"):
        print(f"  {name:<7} / floor = {results[name][0]:.0f} / {floor_rate:.0f} = "
              f"{results[name][0] / floor_rate if floor_rate else float('nan'):.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
