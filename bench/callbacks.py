"""STK callback intake benchmark (issue 13): ours against a floor, side by side in one run.

    .venv/bin/python -m bench.callbacks [--database-url ...] [--redis-url ...] [--concurrency 20] ...

Three servers under the same gunicorn settings run at once: by default the Procfile's (2 workers of 4
threads, gthread), or sync workers with --threads 1 --worker-class sync:
  (1) ours, applying inline (CALLBACK_APPLY=inline): every callback a fresh STK success
      for an order awaiting payment, stored, then applied (the order funded, ledger, code SMS), and
      answered once applied;
  (2) ours, store-then-ack (CALLBACK_APPLY=worker, the default): the same callbacks for other
      orders, answered once the raw body is stored with one INSERT; nothing applied by the request;
  (3) the floor (bench/floor_app.py): the body kept with one autocommit INSERT, then 200.
Each is driven closed loop (--concurrency connections, no think time) for --duration-seconds, one
after another, then each is hit by a burst of --burst distinct callbacks sent at once (one connection
each): all must be answered 200. Afterwards (4) the rows (2) stored are applied by --drain-workers
threads claiming at once as worker processes do (escrow/intake.py apply_waiting): every one must end
`applied` and its order funded exactly once (none lost, none twice); and (5) the time from a callback's
200 to its order being funded is sampled with one worker loop polling as the worker does when idle
(CALLBACK_POLL_SECONDS). Prints callbacks/s, p50/p99, server CPU per callback, and the ratios.
Nothing is asserted. The benchmark database is dropped and re-migrated (its name must contain "bench").
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


def closed_loop(label: str, server: Gunicorn, requests: list, args) -> dict:
    drive(server.port, Load(requests[:args.warmup]), concurrency=args.concurrency, duration=30)   # warm-up
    cpu = server.cpu_seconds()
    run = drive(server.port, Load(requests[args.warmup:]), concurrency=args.concurrency,
                duration=args.duration_seconds)
    cpu = None if cpu is None else server.cpu_seconds() - cpu
    run["rate"] = report(f"{label}, closed loop x{args.concurrency}", run, cpu)
    run["cpu"] = cpu / len(run["latencies"]) if cpu is not None and run["latencies"] else None
    return run


def drain(app, workers: int) -> tuple[float, int]:
    """Stored callbacks applied by `workers` threads claiming at once: (seconds, how many applied)."""
    intake = app.extensions["zemi"].service.intake
    counts, lock = [], threading.Lock()

    def work():
        done = 0
        while True:
            claimed = intake.apply_waiting(limit=10)
            if not claimed:
                break
            done += claimed
        with lock:
            counts.append(done)

    threads = [threading.Thread(target=work) for _ in range(max(1, workers))]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    return time.perf_counter() - began, sum(counts)


def funding_latency(app, port: int, items: list, token: str, run_tag: str) -> list:
    """Seconds from each callback's 200 to its order funded, one at a time, with one worker loop
    polling every CALLBACK_POLL_SECONDS as the worker does between passes."""
    from sqlalchemy import select

    from escrow.models import Order, PaymentAttempt
    from escrow.worker import CALLBACK_POLL_SECONDS

    components = app.extensions["zemi"]
    stop, latencies = threading.Event(), []

    def worker_loop():
        while not stop.is_set():
            if not components.service.intake.apply_waiting():
                stop.wait(CALLBACK_POLL_SECONDS)

    loop = threading.Thread(target=worker_loop, daemon=True)
    loop.start()
    try:
        for index, (attempt, checkout, charge) in items:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", f"/hooks/stk/{token}/a{attempt}", stk_success(checkout, charge, f"L{run_tag}{index:07d}"),
                         {"Content-Type": "application/json"})
            conn.getresponse().read()
            conn.close()
            answered = time.perf_counter()
            while time.perf_counter() - answered < 10:
                with components.db.transaction() as session:
                    state = session.scalar(select(Order.state).join(PaymentAttempt, PaymentAttempt.order_id == Order.id)
                                           .where(PaymentAttempt.id == attempt))
                if state == "funded":
                    latencies.append(time.perf_counter() - answered)
                    break
                time.sleep(0.005)
    finally:
        stop.set()
        loop.join(timeout=10)
    return latencies


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/zemi_bench",
                        help="PostgreSQL (name must contain 'bench'; dropped and re-migrated)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--duration-seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server")
    parser.add_argument("--threads", type=int, default=4,
                        help="gunicorn threads per worker (the Procfile's 4: a burst's INSERTs commit together)")
    parser.add_argument("--worker-class", default=None, help="gunicorn worker class (gthread with threads, else sync)")
    parser.add_argument("--orders", type=int, default=800,
                        help="orders seeded for ours applying inline (warm-up + closed loop + burst)")
    parser.add_argument("--stored-orders", type=int, default=2000,
                        help="orders seeded for ours storing then acknowledging (the floor gets the same bodies)")
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50, help="callbacks sent before measuring")
    parser.add_argument("--drain-workers", type=int, default=2, help="threads applying the stored callbacks")
    parser.add_argument("--latency-samples", type=int, default=20)
    args = parser.parse_args(argv)
    args.threads = max(1, args.threads)
    args.worker_class = args.worker_class or ("gthread" if args.threads > 1 else "sync")
    args.orders = max(args.orders, args.burst + args.warmup + 1)
    args.stored_orders = max(args.stored_orders, args.burst + args.warmup + 1)
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
          f"load={tuple(round(x, 2) for x in load)}  gunicorn {args.worker_class} x{args.workers} workers "
          f"x{args.threads} threads each")
    prepare_postgres(args.database_url)
    count_rows(args.database_url, "CREATE TABLE IF NOT EXISTS floor_callbacks (id bigserial PRIMARY KEY, body text);"
                                  " SELECT 0")   # before the floor's workers start: they would race to create it
    app = create_app({**settings, "CALLBACK_APPLY": "worker"})   # this process drains like a worker
    try:
        began = time.perf_counter()
        samples = args.latency_samples
        seeded = seed_sent_attempts(app, 8, args.orders + args.stored_orders + samples, run_tag)
        print(f"  seeded {len(seeded)} orders awaiting payment in {time.perf_counter() - began:.1f} s")
        token = BENCH_CALLBACK_TOKEN

        def ours(items):
            return [(f"/hooks/stk/{token}/a{attempt}", stk_success(checkout, charge, f"R{run_tag}{index:07d}"))
                    for index, (attempt, checkout, charge) in items]

        indexed = list(enumerate(seeded))
        stored_end = args.orders + args.stored_orders
        inline_items, stored_items = indexed[:args.orders], indexed[args.orders:stored_end]
        requests = {"inline": ours(inline_items), "stored": ours(stored_items),
                    "floor": [(f"/hooks/floor/{token}", body) for _, body in ours(stored_items)]}
        gunicorn = dict(workers=args.workers, threads=args.threads, worker_class=args.worker_class)
        env = {**os.environ, **settings}
        specs = {"inline": ("app:create_app()", {**env, "CALLBACK_APPLY": "inline"}),
                 "stored": ("app:create_app()", {**env, "CALLBACK_APPLY": "worker"}),
                 "floor": ("bench.floor_app:create_app()", {**os.environ, "REDIS_URL": args.redis_url,
                           "FLOOR_DATABASE_URL": args.database_url.replace("postgresql+psycopg://", "postgresql://")})}
        labels = {"inline": "ours, apply inline", "stored": "ours, store then ack", "floor": "floor (1 INSERT + 200)"}
        servers, closed, shots = {}, {}, {}
        try:
            for name, (spec, server_env) in specs.items():
                servers[name] = Gunicorn(spec, server_env, log_path=workdir / f"{name}.log", **gunicorn).__enter__()
            for name, server in servers.items():   # closed loops one after another, the servers all up
                closed[name] = closed_loop(labels[name], server, requests[name][args.burst:], args)
            for name, server in servers.items():   # then the bursts
                shots[name] = burst(server.port, requests[name][:args.burst])
                report(f"{labels[name]}, burst of {args.burst}", shots[name], None)
            waiting = count_rows(args.database_url, "SELECT count(*) FROM inbound_callbacks WHERE source = 'stk' "
                                                    "AND status = 'received'")
            seconds, applied_now = drain(app, args.drain_workers)
            latencies = funding_latency(app, servers["stored"].port, indexed[stored_end:], token, run_tag)
        finally:
            for server in servers.values():
                server.stop()
    finally:
        app.extensions["zemi"].db.dispose()

    statuses = {status: count_rows(args.database_url, "SELECT count(*) FROM inbound_callbacks WHERE source = 'stk' "
                                                      f"AND status = '{status}'") for status in ("received", "applied")}
    funded = count_rows(args.database_url, "SELECT count(*) FROM orders WHERE state = 'funded'")
    twice = count_rows(args.database_url, "SELECT count(*) FROM (SELECT order_id FROM payments_received "
                                          "GROUP BY order_id HAVING count(*) > 1) AS t")
    floored = count_rows(args.database_url, "SELECT count(*) FROM floor_callbacks")
    answered = {name: len(shot["latencies"]) for name, shot in shots.items()}
    sent = {name: len(run["latencies"]) + args.warmup + args.burst for name, run in closed.items()}
    print(f"\n  stored then applied: {waiting} waiting after the HTTP runs, applied by {args.drain_workers} workers "
          f"in {seconds:.1f} s ({applied_now / seconds if seconds else 0:.0f} callbacks/s); now {statuses['applied']} "
          f"applied, {statuses['received']} still received; {funded} orders funded "
          f"(callbacks answered 200: inline {sent['inline']}, stored {sent['stored'] + len(latencies)}); "
          f"orders paid twice: {twice}; floor kept {floored} of {sent['floor']}")
    print("  burst answered 200: " + ", ".join(f"{name} {count}/{args.burst}" for name, count in answered.items()))
    if latencies:
        print(f"  store-then-ack, a callback's 200 to its order funded (one worker loop, {len(latencies)} samples): "
              f"p50 {ms(percentile(latencies, 0.5))}, max {ms(max(latencies))}")
    floor_rate = closed["floor"]["rate"]
    print("\n| | callbacks/s | p50 / p99 | server CPU per callback | of the floor | burst of "
          f"{args.burst}: answered, p99 |")
    print("|---|---|---|---|---|---|")
    for name, run in closed.items():
        cpu = "–" if run["cpu"] is None else f"{run['cpu'] * 1000:.1f} ms"
        print(f"| {labels[name]} | {run['rate']:.0f} | {percentile(run['latencies'], 0.5) * 1000:.0f} / "
              f"{percentile(run['latencies'], 0.99) * 1000:.0f} ms | {cpu} | "
              f"{run['rate'] / floor_rate if floor_rate else float('nan'):.0%} | {answered[name]}/{args.burst}, "
              f"{percentile(shots[name]['latencies'], 0.99) * 1000:,.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
