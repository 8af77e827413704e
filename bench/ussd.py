"""USSD benchmark (issue 5): complete "pay a seller" and "enter delivery code" sessions, hop by hop.

    .venv/bin/python -m bench.ussd [--database-url ...] [--redis-url ...] [--concurrency 100] ...

  (a) in process: the WSGI app through Flask's test client, real Redis and PostgreSQL, one session
      after another; prints hops/s and p50/p99 per-hop latency (overall and per screen).
  (b) over HTTP: the app under gunicorn on 127.0.0.1, driven by N concurrent sessions (one thread and
      one HTTP connection each, no think time unless --think-ms) for a bounded time; then, under the SAME gunicorn
      settings, the floor (bench/floor_app.py: one Redis GET and one SET per request) driven the same
      way. Prints hops/s, p50/p99, errors, and our throughput as a fraction of the floor's.

The benchmark database is dropped and re-migrated at start (its name must contain "bench"); in Redis
only keys under zemi:ussd: and zemi:bench: are deleted. Every session uses numbers of its own, so the
per-number limits (ORDERS_PER_HOUR, STK_PUSHES_PER_HOUR, USSD_RATE_LIMIT_PER_MINUTE) are left at their
defaults and never reached. Orders for "enter delivery code" are seeded funded (an STK result applied
through the core with a made-up CheckoutRequestID), their codes read from the sealed SMS. Nothing is
asserted: the script prints figures. Every loop is bounded in count and time; gunicorn is always stopped.
"""
import argparse
import http.client
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVICE_CODE = "*384*1234#"
BENCH_SECRET_KEY = "bench-secret-key-not-for-production"
BENCH_CALLBACK_TOKEN = "bench-callback-token"
PAY_FINAL, CODE_FINAL = "END Order ", "END Released"
PAY_LABELS = ("pay:dial", "pay:menu", "pay:seller", "pay:amount", "pay:item", "pay:confirm")
CODE_LABELS = ("code:dial", "code:menu", "code:code", "code:confirm")
MAX_SEED = 100_000


# --- sessions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Script:
    """One complete USSD session: who dials, what they type screen by screen, how it must end."""
    kind: str                  # "pay" or "code"
    phone: str                 # the caller, as AT sends it (+2547...)
    inputs: tuple              # one answer per screen after the first
    final: str                 # the last reply must start with this
    session_id: str = ""

    @property
    def labels(self) -> tuple:
        return PAY_LABELS if self.kind == "pay" else CODE_LABELS

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


ROLE_PAY_BUYER, ROLE_PAY_SELLER, ROLE_SEED_BUYER, ROLE_SEED_SELLER = 0, 1, 2, 3


def pay_script(phase: int, index: int, run_tag: str) -> Script:
    return Script("pay", number(phase, ROLE_PAY_BUYER, index),
                  ("1", local(number(phase, ROLE_PAY_SELLER, index)), str(500 + (index % 40) * 25), "Bench kitenge",
                   "1"), PAY_FINAL, f"ATUid_bench{run_tag}_{phase}p{index}")


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


# --- measuring --------------------------------------------------------------------------------
@dataclass
class Stats:
    name: str
    seconds: float = 0.0
    latencies: list = field(default_factory=list)          # seconds, per counted hop
    by_label: dict = field(default_factory=dict)            # label -> [seconds]
    sessions: int = 0
    errors: int = 0
    error_samples: list = field(default_factory=list)
    note: str = ""
    client_cpu: float = 0.0     # CPU seconds used by this process while measuring
    server_cpu: float | None = None   # CPU seconds used by the gunicorn process group while measuring

    @property
    def hops(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.hops / self.seconds if self.seconds else 0.0

    def add(self, label: str, seconds: float) -> None:
        self.latencies.append(seconds)
        self.by_label.setdefault(label, []).append(seconds)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:160])

    def merge(self, other: "Stats") -> None:
        self.latencies += other.latencies
        for label, values in other.by_label.items():
            self.by_label.setdefault(label, []).extend(values)
        self.sessions += other.sessions
        self.errors += other.errors
        self.error_samples = (self.error_samples + other.error_samples)[:5]


def percentile(values: list, fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def print_stats(stats: Stats, per_label: bool = False) -> None:
    print(f"  {stats.name}: {stats.hops} hops, {stats.sessions} sessions in {stats.seconds:.1f} s -> "
          f"{stats.rate:.0f} hops/s; per hop p50 {ms(percentile(stats.latencies, 0.5))}, "
          f"p99 {ms(percentile(stats.latencies, 0.99))}, max {ms(max(stats.latencies, default=0))}; "
          f"errors {stats.errors}" + (f" ({stats.note})" if stats.note else ""))
    for sample in stats.error_samples:
        print(f"    error: {sample}")
    if stats.seconds and stats.hops:
        cpu = f"    CPU: driver {stats.client_cpu / stats.seconds:.2f} cores"
        if stats.server_cpu is not None:
            cpu += (f", gunicorn {stats.server_cpu / stats.seconds:.2f} cores"
                    f" = {stats.server_cpu / stats.hops * 1000:.2f} ms of server CPU per hop")
        else:
            cpu += f" = {stats.client_cpu / stats.hops * 1000:.2f} ms of CPU per hop (app and driver together)"
        print(cpu)
    if per_label:
        for label in PAY_LABELS + CODE_LABELS:
            values = stats.by_label.get(label)
            if values:
                print(f"    {label:<13} n={len(values):<6} p50 {ms(percentile(values, 0.5)):>10}  "
                      f"p99 {ms(percentile(values, 0.99)):>10}")


def judge(reply: str, last: bool, script: Script) -> str | None:
    """None when the reply is what this hop should get, else what was wrong."""
    if last:
        return None if reply.startswith(script.final) else f"{script.kind} ended with {reply[:80]!r}"
    return None if reply.startswith("CON ") else f"{script.kind} got {reply[:80]!r} mid-session"


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


# --- (b) over HTTP ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn from this interpreter's environment, in its own process group, stopped on exit."""

    def __init__(self, app_spec: str, env: dict, *, workers: int, threads: int, worker_class: str, log_path: Path):
        self.port = free_port()
        self.command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
                        "--workers", str(workers), "--threads", str(threads), "--worker-class", worker_class,
                        "--timeout", "30", "--graceful-timeout", "5", "--log-level", "warning", app_spec]
        self.env, self.log_path, self.process = env, log_path, None

    def __enter__(self) -> "Gunicorn":
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready(30.0)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /health within {limit:.0f} s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def cpu_seconds(self) -> float | None:
        """user+system CPU of the master and its workers (Linux /proc; None elsewhere)."""
        ticks, total = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100, 0
        try:
            entries = os.listdir("/proc")
        except OSError:
            return None
        for entry in entries:
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.process.pid:          # the process group we started
                total += int(fields[11]) + int(fields[12])   # utime, stime
        return total / ticks

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self._close_log()
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)   # the group we started: master and workers
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        self._close_log()

    def _close_log(self) -> None:
        if getattr(self, "log", None) and not self.log.closed:
            self.log.close()


def drive_http(server: "Gunicorn", scripts: list, *, concurrency: int, duration: float, name: str,
               check: bool, think: float = 0.0, path: str = "/ussd") -> Stats:
    """`concurrency` threads, each one connection, each running whole sessions back to back until the
    time limit (a session under way then finishes, uncounted) or until the scripts run out. `think`
    seconds on average (uniform 0.5x to 1.5x) pass between one hop's reply and the next hop of the same
    session, and the sessions' starts are spread over one think time, so they do not arrive in step."""
    port = server.port
    source = iter(scripts)
    source_lock = threading.Lock()
    results, threads = [], []
    began = time.perf_counter()
    deadline = began + duration
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Connection": "keep-alive"}

    def next_script():
        with source_lock:
            return next(source, None)

    def worker():
        stats = Stats(name)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        pace = random.Random()
        try:
            if think:
                time.sleep(min(pace.uniform(0, think), max(0.0, deadline - time.perf_counter())))
            while time.perf_counter() < deadline:
                script = next_script()
                if script is None:
                    stats.note = "scripts ran out"
                    break
                forms = list(script.forms())
                for position, (label, form) in enumerate(zip(script.labels, forms)):
                    body = urllib.parse.urlencode(form)
                    started = time.perf_counter()
                    try:
                        conn.request("POST", path, body, headers)
                        response = conn.getresponse()
                        reply = response.read().decode()
                        status = response.status
                        if response.will_close:
                            conn.close()
                    except (OSError, http.client.HTTPException) as exc:
                        conn.close()
                        if started < deadline:
                            stats.error(f"{type(exc).__name__}: {exc}")
                        break
                    finished = time.perf_counter()
                    counted = finished <= deadline
                    if counted:
                        stats.add(label, finished - started)
                    problem = (f"HTTP {status}" if status != 200
                               else judge(reply, position == len(forms) - 1, script) if check
                               else None if reply.startswith(("CON ", "END ")) else f"got {reply[:60]!r}")
                    if problem:
                        if counted:
                            stats.error(problem)
                        break
                    if think and position < len(forms) - 1:
                        time.sleep(min(pace.uniform(0.5, 1.5) * think, max(0.0, deadline - time.perf_counter())))
                if time.perf_counter() <= deadline:
                    stats.sessions += 1
        finally:
            conn.close()
            results.append(stats)

    at_end = {}

    def sample_at_deadline():   # CPU counted up to the deadline, not while the last sessions finish
        time.sleep(max(0.0, deadline - time.perf_counter()))
        at_end.update(server=server.cpu_seconds(), client=time.process_time())

    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    sampler = threading.Thread(target=sample_at_deadline, daemon=True)
    sampler.start()
    for _ in range(concurrency):
        thread = threading.Thread(target=worker, daemon=True)
        threads.append(thread)
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 60)
    total = Stats(name)
    for stats in results:
        total.merge(stats)
        total.note = total.note or stats.note
    total.seconds = min(time.perf_counter(), deadline) - began
    sampler.join(timeout=duration + 5)
    total.client_cpu = at_end.get("client", time.process_time()) - client_cpu
    server_after = at_end.get("server")
    total.server_cpu = None if server_cpu is None or server_after is None else server_after - server_cpu
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        total.note = f"{stuck} client threads still running at the end"
    return total


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


def clear_redis(url: str) -> int:
    """Delete only the benchmark's keys (USSD sessions, rate counters, resume offers, the floor's keys)."""
    import redis

    client = redis.Redis.from_url(url)
    deleted = 0
    for pattern in ("zemi:ussd:*", "zemi:bench:*"):
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
    parser.add_argument("--sessions", type=int, default=2000,
                        help="most sessions per HTTP run of our app (half pay, half code; seeds sessions/2 orders)")
    parser.add_argument("--inprocess-sessions", type=int, default=600, help="most sessions in process")
    parser.add_argument("--concurrency", type=int, default=100, help="concurrent sessions over HTTP")
    parser.add_argument("--duration-seconds", type=float, default=20.0, help="measured time per HTTP run (<= 120)")
    parser.add_argument("--warmup-seconds", type=float, default=3.0, help="unmeasured load before each HTTP run")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--think-ms", type=float, default=0.0,
                        help="pause between hops of a session over HTTP (0: saturating closed loop)")
    parser.add_argument("--seed-threads", type=int, default=2, help="threads seeding funded orders")
    parser.add_argument("--skip-http", action="store_true", help="run only the in-process part")
    args = parser.parse_args(argv)
    args.duration_seconds = max(1.0, min(args.duration_seconds, 120.0))
    args.warmup_seconds = max(0.0, min(args.warmup_seconds, 30.0))
    args.concurrency = max(1, min(args.concurrency, 1000))
    args.think_ms = max(0.0, min(args.think_ms, 10_000.0))
    args.sessions = max(2, min(args.sessions, 2 * MAX_SEED))
    args.inprocess_sessions = max(2, min(args.inprocess_sessions, 2 * MAX_SEED))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from app import create_app
    from escrow.vault import new_data_key

    run_tag = f"{int(time.time()) % 100_000:05d}"
    workdir = Path(tempfile.mkdtemp(prefix="zemi-bench-"))
    data_key = new_data_key()
    settings = app_settings(args.database_url, args.redis_url, str(workdir / "instance"), data_key)
    print(f"Zemi USSD benchmark  {time.strftime('%Y-%m-%d %H:%M:%S')}  cpus={os.cpu_count()}  "
          f"python={sys.version.split()[0]}")
    print(f"  database {args.database_url}  redis {args.redis_url}  logs {workdir}")
    print("  limits: defaults (ORDERS_PER_HOUR, STK_PUSHES_PER_HOUR, USSD_RATE_LIMIT_PER_MINUTE unchanged);"
          " every session uses numbers of its own")

    prepare_postgres(args.database_url)
    cleared = clear_redis(args.redis_url)
    print(f"  migrated the benchmark database; deleted {cleared} old benchmark keys from Redis")

    app = create_app(settings)
    try:
        in_process_orders = args.inprocess_sessions // 2
        http_orders = 0 if args.skip_http else args.sessions // 2
        began = time.perf_counter()
        in_process_codes = seed_code_orders(app, 1, in_process_orders, run_tag, args.seed_threads)
        http_codes = seed_code_orders(app, 2, http_orders, run_tag, args.seed_threads) if http_orders else []
        print(f"  seeded {in_process_orders + http_orders} funded orders in {time.perf_counter() - began:.1f} s")

        print("\n(a) in process (Flask test client, one session at a time)")
        warm = scripts_for(1, in_process_codes[:10], run_tag)
        run_in_process(app, warm, 30.0)                               # imports, pools, caches
        stats = run_in_process(app, scripts_for(1, in_process_codes[10:], run_tag), args.duration_seconds)
        print_stats(stats, per_label=True)
        in_process_p50 = percentile(stats.latencies, 0.5)
        floor_p50 = in_process_floor(args.redis_url, run_tag, args.duration_seconds)
        print(f"  ours / floor, per-hop p50 in process = {ms(in_process_p50)} / {ms(floor_p50)} = "
              f"{in_process_p50 / floor_p50:.1f} times (the floor prices this machine's Flask and Redis)")
    finally:
        app.extensions["zemi"].db.dispose()

    if args.skip_http:
        return 0

    env = {**os.environ, **settings}
    gunicorn_settings = dict(workers=args.workers, threads=args.threads, worker_class=args.worker_class)
    think = args.think_ms / 1000
    print(f"\n(b) over HTTP: gunicorn --workers {args.workers} --threads {args.threads} "
          f"--worker-class {args.worker_class}; {args.concurrency} concurrent sessions, "
          f"{'no think time' if not think else f'{args.think_ms:.0f} ms between hops'}; "
          f"{args.warmup_seconds:.0f} s warm-up + {args.duration_seconds:.0f} s measured, ours then the floor")
    scripts = scripts_for(2, http_codes, run_tag)
    warm_count = int(len(scripts) * args.warmup_seconds / (args.warmup_seconds + args.duration_seconds))
    warm_count -= warm_count % 2
    load = dict(concurrency=args.concurrency, think=think)
    with Gunicorn("app:create_app()", env, log_path=workdir / "gunicorn-zemi.log", **gunicorn_settings) as server:
        drive_http(server, scripts[:warm_count], duration=args.warmup_seconds, name="warm-up", check=False, **load)
        ours = drive_http(server, scripts[warm_count:], duration=args.duration_seconds, name="zemi /ussd",
                          check=True, **load)
    floor_codes = [(number(3, ROLE_SEED_SELLER, i), "123456") for i in range(min(len(http_codes) * 4, MAX_SEED))]
    floor_scripts = scripts_for(3, floor_codes, run_tag)
    floor_env = {**os.environ, "REDIS_URL": args.redis_url}
    with Gunicorn("bench.floor_app:create_app()", floor_env, log_path=workdir / "gunicorn-floor.log",
                  **gunicorn_settings) as server:
        drive_http(server, floor_scripts, duration=args.warmup_seconds, name="warm-up", check=False, **load)
        floor = drive_http(server, floor_scripts[::-1], duration=args.duration_seconds,
                           name="floor (1 GET + 1 SET)", check=False, **load)
    print_stats(ours, per_label=True)
    print_stats(floor)
    ratio = ours.rate / floor.rate if floor.rate else float("nan")
    print(f"\n  ours / floor = {ours.rate:.0f} / {floor.rate:.0f} hops/s = {ratio:.0%}")
    if not think and ours.rate:
        print(f"  (closed loop, no think time: mean hop latency = {args.concurrency} sessions / throughput = "
              f"{args.concurrency / ours.rate * 1000:.0f} ms for ours, "
              f"{args.concurrency / floor.rate * 1000 if floor.rate else float('nan'):.0f} ms for the floor)")
    p99 = percentile(ours.latencies, 0.99)
    print("\ntargets (2-core machine):")
    print(f"  in-process median < 1 ms : {ms(in_process_p50)}  {'met' if in_process_p50 < 0.001 else 'MISSED'}")
    print(f"  HTTP >= 60% of floor     : {ratio:.0%}  {'met' if ratio >= 0.6 else 'MISSED'}")
    print(f"  HTTP p99 < 50 ms         : {ms(p99)}  {'met' if p99 < 0.05 else 'MISSED'}")
    print(f"  HTTP no errors           : {ours.errors}  {'met' if ours.errors == 0 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
