"""bench/ussd.py's HTTP part: Zemi, the same conversation in anysd 1.2.7, and the floor, side by side.

Three (four) gunicorn servers with the same settings run at once on 127.0.0.1: Zemi (app:create_app()),
anysd (bench/anysd_app.py, in its own virtual environment, bench/anysd_env.py), the floor
(bench/floor_app.py: one Redis GET and one SET per hop) and, for the hiredis A/B, Zemi again with
hiredis the other way round (hidden by a shim when installed, else put on PYTHONPATH from
bench/.hiredis). Each load is driven against each server in turn, interleaved, closed loop:
  light  a returning number (its language remembered) dials, 1, the seller, the amount, the item, 2
         (cancel): 6 hops, none of which writes to PostgreSQL (Zemi's `1` looks at the limits, one SELECT
         outside any transaction, unless the number passed that look within the last minute: its pass
         is kept in Redis, and the light numbers come round every --light-numbers sessions)
  pay    a new number dials, 1, the seller, the amount, the item, 1 (confirm): Zemi reads the new number's
         language (none; the dial is queued for the worker, which is not running here), looks at its
         limits on `1` and creates the order; anysd's confirm writes nothing
at each of --compare-concurrency (20 and 100 sessions). Prints hops/s, p50, p99, server CPU per hop,
and the ratios. With --rounds N the whole comparison is run N times, each round starting with the next
server in turn (so no server always runs first, right after another's load), and a last table gives each
cell's ratios round by round, their median, and in how many rounds issue 13's goals held.
"""
import math
import itertools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import anysd_env
from bench.http_load import Gunicorn, drive_http
from bench.stats import Stats, ms, percentile, print_stats

ROOT = Path(__file__).resolve().parent.parent
HIREDIS = "hiredis==3.5.0"
HIREDIS_DIR = ROOT / "bench" / ".hiredis"
NO_HIREDIS_DIR = ROOT / "bench" / "no_hiredis"
NUMBERS = 1_000_000      # number()'s indexes, shared by the pay runs (each its own span)
SESSIONS_PER_SECOND = 1_500   # a span's bound: 2 cores serve ~530 sessions/s at most (the floor, light)
# issue 13's goals per load: Zemi / anysd hops/s at least, Zemi / floor at least, Zemi's p99 / anysd's at most
GOALS = {"light": (1.5, 0.6, 1.0), "pay": (1.0, 0.6, 1.0)}


def run_span(warmup_seconds: float, duration_seconds: float) -> int:
    """Sessions (new numbers) one run may use: more than it can start in its warm-up and measured time."""
    return max(10_000, math.ceil((warmup_seconds + duration_seconds) * SESSIONS_PER_SECOND))


def pay_runs_fit(rounds: int, concurrencies: int, servers: int, span: int) -> bool:
    """Every pay run of every round gets numbers of its own within number()'s range."""
    return rounds * concurrencies * servers * span <= NUMBERS


def hiredis_installed() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import hiredis"], capture_output=True)
    return probe.returncode == 0


def hiredis_path(log=print) -> str:
    """A PYTHONPATH entry that turns hiredis the other way round from this environment."""
    if hiredis_installed():
        return str(NO_HIREDIS_DIR)
    if not (HIREDIS_DIR / "hiredis").is_dir():
        log(f"  installing {HIREDIS} into {HIREDIS_DIR} for the A/B (once) ...")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(HIREDIS_DIR), HIREDIS], check=True, capture_output=True)
    return str(HIREDIS_DIR)


def prewarm_light_numbers(app, count: int, run_tag: str) -> list:
    """Dial each light-load number once in process: its profile exists and its language is
    remembered in Redis, as for anyone who dialled today. Returns the numbers."""
    from bench.ussd import ROLE_LIGHT, SERVICE_CODE, number

    client = app.test_client()
    phones = [number(0, ROLE_LIGHT, index) for index in range(count)]
    for index, phone in enumerate(phones):
        client.post("/ussd", data={"sessionId": f"ATUid_warm{run_tag}_{index}", "serviceCode": SERVICE_CODE,
                                   "phoneNumber": phone, "text": ""})
    return phones


def _pay_scripts(run: int, span: int, run_tag: str):
    """New buyers and sellers: each pay run (counted from 0) its own range of numbers (and session ids)."""
    from bench.ussd import pay_script
    return (pay_script(9, run * span + index, run_tag) for index in range(span))


def _light_scripts(phones: list, run: int, span: int, run_tag: str):
    """The pre-dialled numbers in turn, each session its own id."""
    from bench.ussd import light_script
    return (light_script(phones[index % len(phones)], run * span + index, run_tag) for index in range(span))


def in_turn(items: list, start: int) -> list:
    """`items` rotated to begin at index `start` (modulo their number)."""
    if not items:
        return []
    start %= len(items)
    return items[start:] + items[:start]


def serve(args, settings: dict, workdir: Path, log=print) -> dict:
    """name -> (app spec, env, python) for every server of the comparison (anysd's venv made first)."""
    env = {**os.environ, **settings}
    toggled = hiredis_path(log)
    with_hiredis = hiredis_installed()
    servers = {"zemi": ("app:create_app()", env, None)}
    try:
        python = anysd_env.ensure(log)
        config = anysd_env.config_file(workdir / "anysd.yaml", args.redis_url)
        servers["anysd"] = ("bench.anysd_app:create_app()", {**os.environ, "ANYSD_CONFIG_FILE": str(config)}, python)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        log(f"  anysd cannot run here, so it is left out of this run: {error}")
    servers["floor"] = ("bench.floor_app:create_app()", {**os.environ, "REDIS_URL": args.redis_url}, None)
    other = "zemi+hiredis" if not with_hiredis else "zemi-hiredis"
    servers[other] = ("app:create_app()", {**env, "PYTHONPATH": os.pathsep.join(
        filter(None, [toggled, env.get("PYTHONPATH")]))}, None)
    log(f"  hiredis in this environment: {'yes' if with_hiredis else 'no'}; A/B server: {other}")
    return servers


def compare(args, settings: dict, workdir: Path, light_phones: list, run_tag: str) -> list:
    """Every load against every server, interleaved, --rounds times; prints the figures and returns each
    round's {(load, concurrency, server): Stats}."""
    from bench.ussd import analyze_postgres
    servers = serve(args, settings, workdir)
    if not analyze_postgres(settings["DATABASE_URL"]):
        print("  PostgreSQL's autovacuum is off here: the benchmark ANALYZEs its database before each run instead")
    gunicorn = dict(workers=args.workers, threads=args.threads, worker_class=args.worker_class)
    print(f"\n(b) over HTTP, side by side: gunicorn --workers {args.workers} --threads {args.threads} "
          f"--worker-class {args.worker_class} for each of {', '.join(servers)}; closed loop at "
          f"{', '.join(map(str, args.compare_concurrency))} sessions; {args.warmup_seconds:.0f} s warm-up + "
          f"{args.duration_seconds:.0f} s measured per run")
    rounds, started = [], []
    light_runs, pay_runs = itertools.count(), itertools.count()
    span = run_span(args.warmup_seconds, args.duration_seconds)
    try:
        for name, (spec, env, python) in servers.items():
            try:
                started.append((name, Gunicorn(spec, env, log_path=workdir / f"gunicorn-{name}.log", python=python,
                                               **gunicorn).__enter__()))
            except RuntimeError as error:
                if name in ("zemi", "floor"):
                    raise
                print(f"  {name} left out of this run: {error}")
        names = [name for name, _ in started]
        waited, quiet = settle(started)
        print(f"  the servers' workers were booted and idle after {waited:.1f} s" if quiet else
              f"  the servers still used CPU after {waited:.0f} s (booting?); measuring anyway")
        for round_ in range(args.rounds):
            order = in_turn(started, round_)
            if args.rounds > 1:
                print(f"\n  round {round_ + 1} of {args.rounds}: {', '.join(name for name, _ in order)}")
            results = {}
            for load in ("light", "pay"):
                for concurrency in args.compare_concurrency:
                    for name, server in order:
                        scripts = (_light_scripts(light_phones, next(light_runs), span, run_tag) if load == "light"
                                   else _pay_scripts(next(pay_runs), span, run_tag))
                        drive_http(server, scripts, concurrency=concurrency, duration=args.warmup_seconds,
                                   name="warm-up", check=False)
                        analyze_postgres(settings["DATABASE_URL"])   # untimed, as autovacuum would (bench/ussd.py)
                        stats = drive_http(server, scripts, concurrency=concurrency, duration=args.duration_seconds,
                                           name=f"{name} {load} x{concurrency}", check=not name.startswith("floor"))
                        results[(load, concurrency, name)] = stats
                        print_stats(stats)
            print_table(results, names, args.compare_concurrency)
            rounds.append(results)
    finally:
        for _, server in started:
            server.stop()
    if len(rounds) > 1:
        print_rounds(rounds, args.compare_concurrency)
    return rounds


def settle(started: list, quiet_cores: float = 0.1, window: float = 1.0, limit: float = 90.0) -> tuple:
    """Wait until the started servers use less than `quiet_cores` of CPU over `window` seconds: a gunicorn
    answers /health once its first worker is up while the others are still importing the app, and the
    first runs would share the cores with those boots. Returns (seconds waited, whether they were quiet)."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        before = sum(server.cpu_seconds() or 0.0 for _, server in started)
        time.sleep(window)
        if sum(server.cpu_seconds() or 0.0 for _, server in started) - before < quiet_cores * window:
            return time.monotonic() - began, True
    return time.monotonic() - began, False


def goal_ratios(results: dict, load: str, concurrency: int) -> tuple | None:
    """(Zemi / anysd hops/s, Zemi / floor hops/s, Zemi's p99 / anysd's) for one cell, or None."""
    zemi, anysd, floor = (results.get((load, concurrency, name)) for name in ("zemi", "anysd", "floor"))
    if not all(stats and stats.hops and stats.seconds for stats in (zemi, anysd, floor)):
        return None
    return (zemi.rate / anysd.rate, zemi.rate / floor.rate,
            percentile(zemi.latencies, 0.99) / percentile(anysd.latencies, 0.99))


def goals_held(load: str, ratios: tuple) -> tuple:
    """Whether each of issue 13's three goals held for these ratios (goal_ratios)."""
    over_anysd, over_floor, p99 = GOALS[load]
    return ratios[0] >= over_anysd, ratios[1] >= over_floor, ratios[2] <= p99


def print_rounds(rounds: list, concurrencies: list) -> None:
    """Each cell's ratios round by round, their median, and in how many rounds each goal held."""
    print(f"\n| load | sessions | zemi / anysd hops/s: rounds, median | zemi / floor | p99 zemi / anysd | "
          f"goals held in {len(rounds)} rounds (anysd, floor, p99) |")
    print("|---|---|---|---|---|---|")
    for load in ("light", "pay"):
        for concurrency in concurrencies:
            cells = [ratios for ratios in (goal_ratios(results, load, concurrency) for results in rounds) if ratios]
            if not cells:
                continue
            columns = []
            for which in range(3):
                values = [cell[which] for cell in cells]
                columns.append(" / ".join(f"{value:.2f}" for value in values)
                               + f", median {statistics.median(values):.2f}")
            held = [sum(goals_held(load, cell)[which] for cell in cells) for which in range(3)]
            print(f"| {load} | {concurrency} | {' | '.join(columns)} | "
                  f"{', '.join(f'{count}/{len(cells)}' for count in held)} |")


def _cell(stats: Stats | None) -> str:
    if stats is None or not stats.hops:
        return "| – | – | – | – "
    cpu = "–" if stats.server_cpu is None else f"{stats.server_cpu / stats.hops * 1000:.2f}"
    errors = f" ({stats.errors} err)" if stats.errors else ""
    return (f"| {stats.rate:,.0f}{errors} | {percentile(stats.latencies, 0.5) * 1000:.1f} "
            f"| {percentile(stats.latencies, 0.99) * 1000:.1f} | {cpu} ")


def _ratio(a: Stats | None, b: Stats | None, what: str = "rate") -> str:
    if not a or not b or not a.hops or not b.hops:
        return "–"
    if what == "rate":
        return f"{a.rate / b.rate:.2f}" if b.rate else "–"
    top, bottom = percentile(a.latencies, 0.99), percentile(b.latencies, 0.99)
    return f"{top / bottom:.2f}" if bottom else "–"


def print_table(results: dict, names: list, concurrencies: list) -> None:
    """Markdown tables: each server's hops/s, p50, p99 (ms) and server CPU per hop (ms); then the ratios."""
    print("\n| load | sessions | " + " | ".join(f"{n} hops/s | p50 | p99 | CPU/hop" for n in names) + " |")
    print("|---|---|" + "---|---|---|---|" * len(names))
    for load in ("light", "pay"):
        for concurrency in concurrencies:
            row = "".join(_cell(results.get((load, concurrency, name))) for name in names)
            print(f"| {load} | {concurrency} {row}|")
    ab = next((n for n in names if n.startswith("zemi") and n != "zemi"), None)
    print("\n| load | sessions | zemi / anysd hops/s | zemi / floor | p99 zemi / anysd | anysd / floor | "
          f"{ab} / zemi hops/s | CPU/hop {ab} / zemi |")
    print("|---|---|---|---|---|---|---|---|")
    for load in ("light", "pay"):
        for concurrency in concurrencies:
            get = lambda name: results.get((load, concurrency, name))   # noqa: E731
            zemi, anysd, floor, other = get("zemi"), get("anysd"), get("floor"), get(ab)
            cpu = "–"
            if zemi and other and zemi.server_cpu and other.server_cpu and zemi.hops and other.hops:
                cpu = f"{(other.server_cpu / other.hops) / (zemi.server_cpu / zemi.hops):.2f}"
            print(f"| {load} | {concurrency} | {_ratio(zemi, anysd)} | {_ratio(zemi, floor)} | "
                  f"{_ratio(zemi, anysd, 'p99')} | {_ratio(anysd, floor)} | {_ratio(other, zemi)} | {cpu} |")


def anysd_in_process(redis_url: str, sessions: int, run_tag: str, workdir: Path) -> dict | None:
    """anysd's per-screen p50 in process (its venv, the Flask test client): {label: seconds}."""
    import json
    try:
        python = anysd_env.ensure()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        print(f"  anysd in process: cannot run ({error})")
        return None
    config = anysd_env.config_file(workdir / "anysd.yaml", redis_url)
    done = subprocess.run([str(python), "-m", "bench.anysd_inprocess", str(sessions), run_tag], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "ANYSD_CONFIG_FILE": str(config)})
    if done.returncode != 0:
        print(f"  anysd in process failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _dial(client, phone: str, session_id: str, text: str = "") -> float:
    from bench.ussd import SERVICE_CODE
    began = time.perf_counter()
    client.post("/ussd", data={"sessionId": session_id, "serviceCode": SERVICE_CODE, "phoneNumber": phone, "text": text})
    return time.perf_counter() - began


def first_dial_check(app, ours: Stats, anysd: dict | None, redis_url: str, run_tag: str, samples: int = 200) -> None:
    """Issue 13: a number's first dial costs no more than a light hop plus one cheap read. Measured
    side by side, interleaved sample by sample (this machine drifts by tens of percent within a minute):
    a new number's session to the item screen (its seller, amount and item hops are the light hops),
    then another new number's dial; then the dial of the number dialled new in the sample before, which
    the worker has recorded since and whose language Redis forgot (a day later), its dial again
    (remembered) and one read of its language."""
    import redis

    from bench.ussd import local, number
    from ussd.first_dials import record_waiting
    from ussd.session_store import RedisSessionStore
    from ussd.settings import UssdSettings
    components = app.extensions["zemi"]
    service, client = components.service, app.test_client()
    cache = redis.Redis.from_url(redis_url)
    store = RedisSessionStore.from_settings(cache, UssdSettings.from_mapping(components.settings))   # its key names
    timed = {name: [] for name in ("light", "new", "forgotten", "remembered", "read")}
    while store.first_dials(1):   # the in-process sessions' new numbers: each sample then records its own
        record_waiting(store, service)
    try:
        for index in range(samples + 1):
            walker, phone, earlier = number(0, 9, index), number(0, 8, index), number(0, 8, max(index - 1, 0))
            if index:   # untimed: the worker recorded the number dialled new in the sample before, and a
                # day has passed (its language key only). Done first, so the walk's untimed dial and `1`
                # come between these and any timed dial: a command of the client's own just before a timed
                # dial made that dial 25 us dearer.
                record_waiting(store, service)
                cache.delete(store._key("lang", store.phone_key(earlier)))
            walk = f"ATUid_walk{run_tag}_{index}"
            typed = ["1", local(number(0, 1, index)), "700", "Bench kanga"]
            for depth in range(len(typed) + 1):
                took = _dial(client, walker, walk, "*".join(typed[:depth]))
                if depth >= 2:   # the seller, amount and item hops
                    timed["light"].append(took)
            timed["new"].append(_dial(client, phone, f"ATUid_dial{run_tag}n_{index}"))
            if not index:
                continue
            timed["forgotten"].append(_dial(client, earlier, f"ATUid_dial{run_tag}k_{index}"))
            timed["remembered"].append(_dial(client, earlier, f"ATUid_dial{run_tag}r_{index}"))
            began = time.perf_counter()
            service.language_of(earlier)
            timed["read"].append(time.perf_counter() - began)
    finally:
        cache.close()
    hop, read = percentile(timed["light"], 0.5), percentile(timed["read"], 0.5)
    print(f"  first dial, p50 in process, interleaved: a light hop {ms(hop)} + one read of a language {ms(read)} = "
          f"{ms(hop + read)}")
    for name, label in (("new", "a new number"), ("forgotten", "a known number Redis forgot"),
                        ("remembered", "a number dialled today")):
        dial = percentile(timed[name], 0.5)
        print(f"    {label:<28} {ms(dial)}  {dial / (hop + read):.2f} of the bound  {'met' if dial <= hop + read else 'MISSED'}")
    if anysd:
        screens = []
        for label in ("pay:dial", "pay:menu", "pay:seller", "pay:amount", "pay:item", "pay:confirm"):
            ours_p50 = percentile(ours.by_label.get(label, []), 0.5)
            screens.append(f"{label.split(':')[1]} {ours_p50 * 1000:.2f}/{anysd.get(label, float('nan')) * 1000:.2f}")
        print("  per screen, p50 in process, ms (zemi/anysd): " + "  ".join(screens))
        light_anysd = sum(anysd[label] for label in ("pay:seller", "pay:amount", "pay:item")) / 3
        print(f"  light hops zemi / anysd = {hop / light_anysd:.2f}; first dial zemi / anysd = "
              f"{percentile(timed['new'], 0.5) / anysd['pay:dial']:.2f}; pay confirm zemi / anysd = "
              f"{percentile(ours.by_label.get('pay:confirm', []), 0.5) / anysd['pay:confirm']:.2f}")
