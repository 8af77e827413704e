"""USSD benchmark (issues 5 and 13): Zemi against anysd 1.2.7 and a bare floor, side by side in one run.

    .venv/bin/python -m bench.ussd [--database-url ...] [--redis-url ...] [--compare-concurrency 20,100] ...

  (a) in process: the WSGI app through Flask's test client, real Redis and PostgreSQL, one session
      after another ("pay a seller" and "enter delivery code"); prints hops/s and p50/p99 per hop,
      overall and per screen, the floor through the same client, the same pay sessions in anysd
      (bench/anysd_inprocess.py, in its own venv) screen by screen, and the first-dial check: dials
      of new, forgotten and remembered numbers against a light hop plus one read of a language.
  (b) over HTTP (bench/side_by_side.py): Zemi, anysd (bench/anysd_app.py), the floor
      (bench/floor_app.py: one Redis GET and one SET per request) and Zemi with hiredis the other way
      round, all under the same gunicorn settings, driven in turn by the same closed loops ("light":
      a returning number starts paying and cancels; "pay": a new number pays a seller) at 20 and
      100 sessions; prints hops/s, p50, p99, server CPU per hop and the ratios as Markdown tables.
      An ordinary hop is answered before Flask (ussd/lane.py) in every Zemi server, as in service.

anysd needs redis<5, so it runs in bench/.anysd-venv (git-ignored), made from PyPI on first use
(bench/anysd_env.py). The benchmark database is dropped and re-migrated at start (its name must
contain "bench"); in Redis only keys under zemi:ussd:, zemi:bench: and anysd's benchmark sessions are
deleted. Pay sessions use numbers of their own, the light load cycles through numbers dialled once
beforehand, so the per-number limits (ORDERS_PER_HOUR, STK_PUSHES_PER_HOUR,
USSD_RATE_LIMIT_PER_MINUTE) stay at their defaults. Orders for "enter delivery code" are seeded
funded (an STK result applied through the core with a made-up CheckoutRequestID), their codes read
from the sealed SMS; --history-orders (5,000) are seeded before anything is measured, so the tables and
their indexes are those of a database in service, not a new one's few hundred rows. Nothing is
asserted: the script prints figures. Every loop is bounded in count and time; every gunicorn is
stopped.
"""
import argparse
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_load import Gunicorn, drive_http, free_port  # noqa: E402,F401 -- also bench.callbacks' imports
from bench.stats import Stats, judge, ms, percentile, print_stats  # noqa: E402,F401

SERVICE_CODE = "*384*1234#"
BENCH_SECRET_KEY = "bench-secret-key-not-for-production"
BENCH_CALLBACK_TOKEN = "bench-callback-token"
PAY_FINAL, CODE_FINAL, LIGHT_FINAL = "END Order ", "END Released", "END Cancelled"
PAY_LABELS = ("pay:dial", "pay:menu", "pay:seller", "pay:amount", "pay:item", "pay:confirm")
CODE_LABELS = ("code:dial", "code:menu", "code:code", "code:confirm")
LIGHT_LABELS = ("light:dial", "light:menu", "light:seller", "light:amount", "light:item", "light:cancel")
MAX_SEED = 100_000


# --- sessions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Script:
    """One complete USSD session: who dials, what they type screen by screen, how it must end."""
    kind: str                  # "pay", "code" or "light" (pay, cancelled at the summary)
    phone: str                 # the caller, as AT sends it (+2547...)
    inputs: tuple              # one answer per screen after the first
    final: str                 # the last reply must start with this
    session_id: str = ""

    @property
    def labels(self) -> tuple:
        return {"pay": PAY_LABELS, "code": CODE_LABELS, "light": LIGHT_LABELS}[self.kind]

    def forms(self):
        """The AT form of each hop: text accumulates the answers joined by '*'."""
        typed = []
        for answer in ("",) + self.inputs:
            if answer != "":
                typed.append(answer)
            yield {"sessionId": self.session_id, "serviceCode": SERVICE_CODE, "phoneNumber": self.phone,
                   "networkCode": "63902", "text": "*".join(typed)}


def number(phase: int, role: int, index: int) -> str:
    """A distinct Kenyan mobile number per (phase, role, index): +2547<phase><role><index:06d>."""
    if not (0 <= phase <= 9 and 0 <= role <= 9 and 0 <= index < 1_000_000):
        raise ValueError("number out of range")
    return f"+2547{phase}{role}{index:06d}"


def local(phone: str) -> str:
    return "0" + phone[4:]


ROLE_PAY_BUYER, ROLE_PAY_SELLER, ROLE_SEED_BUYER, ROLE_SEED_SELLER, ROLE_LIGHT = 0, 1, 2, 3, 4


def pay_seller(phase: int, index: int) -> str:
    """The seller a pay script types, in Safaricom's 079x range: since issue 14 a seller number outside
    Safaricom's ranges is questioned on a screen of its own ("may not be on M-Pesa"), a hop the plain
    journey does not take (number(phase, ROLE_PAY_SELLER, i) is 0751.., 0771.. for phases 5 and 7)."""
    if not (0 <= phase <= 9 and 0 <= index < 1_000_000):
        raise ValueError("number out of range")
    return f"079{phase}{index:06d}"


def pay_script(phase: int, index: int, run_tag: str) -> Script:
    return Script("pay", number(phase, ROLE_PAY_BUYER, index),
                  ("1", pay_seller(phase, index), str(500 + (index % 40) * 25), "Bench kitenge",
                   "1"), PAY_FINAL, f"ATUid_bench{run_tag}_{phase}p{index}")


def light_script(phone: str, index: int, run_tag: str) -> Script:
    """A returning number starts paying a seller and cancels at the summary: nothing is written."""
    return Script("light", phone, ("1", local(number(0, ROLE_PAY_SELLER, index % 1_000_000)), "700", "Bench kanga",
                                   "2"), LIGHT_FINAL, f"ATUid_bench{run_tag}_0l{index}")


def code_script(phase: int, index: int, seller: str, code: str, run_tag: str) -> Script:
    return Script("code", seller, ("4", code, "1"), CODE_FINAL, f"ATUid_bench{run_tag}_{phase}c{index}")


def scripts_for(phase: int, codes: list, run_tag: str) -> list:
    """Alternate pay and code sessions: one of each per seeded order."""
    out = []
    for index, (seller, code) in enumerate(codes):
        out.append(pay_script(phase, index, run_tag))
        out.append(code_script(phase, index, seller, code, run_tag))
    return out


# --- seeding ----------------------------------------------------------------------------------
def seed_code_orders(app, phase: int, count: int, run_tag: str, threads: int = 4) -> list:
    """`count` funded orders, each with its own buyer and seller; returns [(seller +254.., code)]."""
    from sqlalchemy import select, update

    from escrow import ordering, payments
    from escrow.models import PaymentAttempt, SmsMessage

    components = app.extensions["zemi"]
    db, core = components.db, components.core
    count = min(count, MAX_SEED)

    def one(index: int):
        buyer, seller = number(phase, ROLE_SEED_BUYER, index), number(phase, ROLE_SEED_SELLER, index)
        checkout, receipt = f"ws_CO_bench{run_tag}{phase}{index:06d}", f"B{run_tag}{phase}{index:06d}"
        with db.transaction() as session:
            order = ordering.create_order(session, core, buyer=buyer, seller=seller, price=1_000 + index % 500,
                                          item="Bench shoes")
            session.execute(update(PaymentAttempt).where(PaymentAttempt.order_id == order.id)
                            .values(status="sent", checkout_request_id=checkout))
            outcome = payments.record_payment_result(session, core, payments.PaymentResult(
                checkout, True, "0", "bench seed", order.charge, receipt))
            if outcome != "funded":
                raise RuntimeError(f"seeding order {index}: {outcome}")
            sealed = session.scalar(select(SmsMessage.body_sealed).where(
                SmsMessage.order_id == order.id, SmsMessage.kind == "code_to_buyer"))
        found = re.search(r"\b(\d{6})\b(?!\d)", core.vault.unseal(sealed).split("code", 1)[-1])
        return seller, found.group(1)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(pool.map(one, range(count)))


# --- (a) in process ---------------------------------------------------------------------------
def run_in_process(app, scripts: list, duration: float, check: bool = True, name: str = "in process") -> Stats:
    """One session after another through the WSGI app; stops at the time limit or the list's end."""
    stats = Stats(name)
    client = app.test_client()
    cpu_began = time.process_time()
    began = time.perf_counter()
    deadline = began + duration
    for script in scripts:
        if time.perf_counter() > deadline:
            stats.note = "time limit reached"
            break
        forms = list(script.forms())
        for position, (label, form) in enumerate(zip(script.labels, forms)):
            started = time.perf_counter()
            response = client.post("/ussd", data=form)
            elapsed = time.perf_counter() - started
            stats.add(label, elapsed)
            reply = response.get_data(as_text=True)
            problem = (f"HTTP {response.status_code}" if response.status_code != 200
                       else judge(reply, position == len(forms) - 1, script) if check else None)
            if problem:
                stats.error(problem)
                break
        stats.sessions += 1
    stats.seconds = time.perf_counter() - began
    stats.client_cpu = time.process_time() - cpu_began
    return stats


def in_process_floor(redis_url: str, run_tag: str, duration: float, pairs: int = 300) -> float:
    """The floor app through the same test client, as many hops as a run of ours: its per-hop p50."""
    from bench.floor_app import create_app as create_floor_app

    floor_app = create_floor_app(redis_url)
    scripts = scripts_for(4, [(number(4, ROLE_SEED_SELLER, i), "123456") for i in range(pairs)], run_tag)
    run_in_process(floor_app, scripts[:20], 30.0, check=False)
    stats = run_in_process(floor_app, scripts[20:], duration, check=False, name="floor in process (1 GET + 1 SET)")
    print_stats(stats)
    return percentile(stats.latencies, 0.5)


# --- set-up -----------------------------------------------------------------------------------
def prepare_postgres(url: str) -> None:
    """Create the database when missing (through the 'postgres' database), then drop and re-migrate it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from escrow.db import normalize_database_url
    from escrow.migrate import upgrade

    target = make_url(normalize_database_url(url))
    name = target.database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to wipe database {name!r}: the benchmark database's name must contain 'bench'")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}):
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(target)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)


def analyze_postgres(url: str) -> bool:
    """ANALYZE the benchmark database, as autovacuum would in production, where it is on (PostgreSQL's
    default): a server with it off (CI's) keeps the statistics of the empty tables just migrated, and the
    limits look's plans then scan every recent order and STK attempt (2.3 ms at 10,000 orders, against
    0.11 ms once analyzed), so each run would be slower than the one before. Returns whether it was on."""
    from sqlalchemy import create_engine, text

    from escrow.db import normalize_database_url

    engine = create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            on = connection.scalar(text("SHOW autovacuum")) == "on"
            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return on


def clear_redis(url: str) -> int:
    """Delete only the benchmark's keys (USSD sessions, rate counters, resume offers, the floor's and anysd's)."""
    import redis

    client = redis.Redis.from_url(url)
    deleted = 0
    for pattern in ("zemi:ussd:*", "zemi:bench:*", "+2547*:ATUid_bench*"):   # the last: anysd's sessions
        batch = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
    client.close()
    return deleted


def app_settings(database_url: str, redis_url: str, instance_path: str, data_key: str) -> dict:
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "INSTANCE_PATH": instance_path,
            "SECRET_KEY": BENCH_SECRET_KEY, "DATA_KEY": data_key, "CALLBACK_TOKEN": BENCH_CALLBACK_TOKEN,
            "SMS_BACKEND": "console", "PUBLIC_BASE_URL": "http://127.0.0.1:8000"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/zemi_bench",
                        help="PostgreSQL (name must contain 'bench'; dropped and re-migrated)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--inprocess-sessions", type=int, default=600, help="most sessions in process")
    parser.add_argument("--compare-concurrency", default="20,100",
                        help="closed-loop session counts over HTTP, comma-separated")
    parser.add_argument("--duration-seconds", type=float, default=8.0, help="measured time per HTTP run (<= 120)")
    parser.add_argument("--warmup-seconds", type=float, default=2.0, help="unmeasured load before each HTTP run")
    parser.add_argument("--light-numbers", type=int, default=10_000,
                        help="returning numbers the light load cycles through (each dialled once beforehand)")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--seed-threads", type=int, default=2, help="threads seeding funded orders")
    parser.add_argument("--skip-http", action="store_true", help="run only the in-process part")
    parser.add_argument("--history-orders", type=int, default=5_000,
                        help="funded orders seeded first, so the tables and indexes are not a new database's")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times the HTTP comparison is run, each round starting with the next server (<= 5)")
    args = parser.parse_args(argv)
    args.duration_seconds = max(1.0, min(args.duration_seconds, 120.0))
    args.warmup_seconds = max(0.0, min(args.warmup_seconds, 30.0))
    args.compare_concurrency = [max(1, min(int(n), 1000)) for n in args.compare_concurrency.split(",") if n.strip()]
    args.light_numbers = max(10, min(args.light_numbers, 100_000))
    args.inprocess_sessions = max(2, min(args.inprocess_sessions, 2 * MAX_SEED))
    args.rounds = max(1, min(args.rounds, 5))
    args.history_orders = max(0, min(args.history_orders, MAX_SEED))
    from bench.side_by_side import pay_runs_fit, run_span
    if not pay_runs_fit(args.rounds, len(args.compare_concurrency), 4,
                        run_span(args.warmup_seconds, args.duration_seconds)):
        parser.error("too many pay runs for the benchmark's numbers: fewer --rounds, concurrencies or seconds")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from app import create_app
    from bench import side_by_side
    from escrow.vault import new_data_key

    run_tag = f"{int(time.time()) % 100_000:05d}"
    workdir = Path(tempfile.mkdtemp(prefix="zemi-bench-"))
    settings = app_settings(args.database_url, args.redis_url, str(workdir / "instance"), new_data_key())
    load = tuple(round(x, 2) for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"Zemi USSD benchmark  {time.strftime('%Y-%m-%d %H:%M:%S')}  cpus={os.cpu_count()}  load={load}  "
          f"python={sys.version.split()[0]}")
    print(f"  database {args.database_url}  redis {args.redis_url}  logs {workdir}")
    print("  limits: defaults (ORDERS_PER_HOUR, STK_PUSHES_PER_HOUR, USSD_RATE_LIMIT_PER_MINUTE unchanged);"
          " new numbers for every pay session, the light load's numbers in turn")

    prepare_postgres(args.database_url)
    cleared = clear_redis(args.redis_url)
    print(f"  migrated the benchmark database; deleted {cleared} old benchmark keys from Redis")

    app = create_app(settings)
    try:
        in_process_orders = args.inprocess_sessions // 2
        seeded = max(in_process_orders, args.history_orders)
        began = time.perf_counter()
        codes = seed_code_orders(app, 1, seeded, run_tag, args.seed_threads)
        in_process_codes = codes[:in_process_orders]
        print(f"  seeded {seeded} funded orders in {time.perf_counter() - began:.1f} s (a database in service; "
              f"{len(in_process_codes)} of them for the in-process code sessions)")
        analyze_postgres(args.database_url)   # as autovacuum would (its statistics, not the empty tables')

        print("\n(a) in process (Flask test client, one session at a time)")
        warm = scripts_for(1, in_process_codes[:10], run_tag)
        run_in_process(app, warm, 30.0)                               # imports, pools, caches
        stats = run_in_process(app, scripts_for(1, in_process_codes[10:], run_tag), args.duration_seconds * 3)
        print_stats(stats, per_label=True)
        in_process_p50 = percentile(stats.latencies, 0.5)
        floor_p50 = in_process_floor(args.redis_url, run_tag, args.duration_seconds)
        print(f"  ours / floor, per-hop p50 in process = {ms(in_process_p50)} / {ms(floor_p50)} = "
              f"{in_process_p50 / floor_p50:.1f} times (the floor prices this machine's Flask and Redis)")
        anysd = side_by_side.anysd_in_process(args.redis_url, max(20, args.inprocess_sessions // 2), run_tag, workdir)
        side_by_side.first_dial_check(app, stats, anysd, args.redis_url, run_tag)
        if not args.skip_http:
            began = time.perf_counter()
            light_phones = side_by_side.prewarm_light_numbers(app, args.light_numbers, run_tag)
            print(f"  dialled the light load's {len(light_phones)} numbers once in {time.perf_counter() - began:.1f} s")
    finally:
        app.extensions["zemi"].db.dispose()

    if not args.skip_http:
        side_by_side.compare(args, settings, workdir, light_phones, run_tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
