"""Console benchmark (issue 15): how fast the operator console's pages answer on PostgreSQL with many orders.

    .venv/bin/python -m bench.console --database-url postgresql://postgres@127.0.0.1:5432/zemi_bench_console \
        [--orders 100000] [--repeat 5]

The database is dropped and re-migrated at start (its name must contain "bench"), then seeded in SQL:
N orders over the last 30 days across the states (1 in 40 disputed), each with its events, funded ones
with their payment (receipt), its STK callback and ledger entry, 2,000 distinct phone numbers. An admin signs in through
the real forms, then each page is fetched --repeat times through Flask's test client (the whole app:
session check, queries, template); the script prints the median and worst time per page in ms, and
nothing is asserted.
"""
import argparse
import re
import statistics
import sys
import tempfile
import time

from sqlalchemy import text

PHONES = 2000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if "bench" not in args.database_url.rsplit("/", 1)[-1]:
        sys.exit("the benchmark wipes its database: give one whose name contains 'bench'")
    app, secret = build(args)
    started = time.perf_counter()
    references = seed(app, args.orders)
    print(f"seeded {args.orders:,} orders in {time.perf_counter() - started:.1f} s")
    client = signed_in_client(app, secret)
    for name, url in pages(app, references):
        timings = []
        for _ in range(args.repeat):
            begun = time.perf_counter()
            response = client.get(url)
            body = response.get_data()
            timings.append((time.perf_counter() - begun) * 1000)
            assert response.status_code == 200, (url, response.status_code, body[:300])
        print(f"{name:<34} median {statistics.median(timings):7.1f} ms   worst {max(timings):7.1f} ms   "
              f"{len(body):>9,} bytes")
    return 0


def build(args):
    from app import create_app
    from escrow.db import Database
    from escrow.migrate import upgrade

    database = Database(args.database_url)
    with database.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    database.dispose()
    upgrade(args.database_url)
    config = {"INSTANCE_PATH": tempfile.mkdtemp(prefix="zemi-bench-console-"), "DATABASE_URL": args.database_url}
    if args.redis_url:
        config["REDIS_URL"] = args.redis_url
    return create_app(config), None


def seed(app, count: int) -> dict:
    zemi = app.extensions["zemi"]
    vault = zemi.core.vault
    numbers = [f"2547{index:08d}" for index in range(10_000_000, 10_000_000 + PHONES)]
    parties = [{"n": n, "key": vault.phone_key(number), "sealed": vault.seal(number)} for n, number in enumerate(numbers)]
    with zemi.db.engine.begin() as connection:
        connection.execute(text("CREATE TEMP TABLE parties (n int PRIMARY KEY, key text, sealed text)"))
        connection.execute(text("INSERT INTO parties VALUES (:n, :key, :sealed)"), parties)
        connection.execute(text(f"""
            INSERT INTO orders (reference, state, initiated_by, buyer_key, buyer_sealed, seller_key, seller_sealed,
                                item, price, fee, fee_payer, charge, payout, dispute_reason, created_at, updated_at)
            SELECT lpad(g::text, 8, '0'),
                   CASE WHEN g % 40 = 0 THEN 'disputed' WHEN g % 10 = 1 THEN 'funded' WHEN g % 10 = 2 THEN 'dispatched'
                        WHEN g % 10 = 3 THEN 'expired' WHEN g % 10 = 4 THEN 'awaiting_payment' ELSE 'paid_out' END,
                   'buyer', b.key, b.sealed, s.key, s.sealed, 'Item number ' || g, 500 + g % 5000, 10 + g % 50, 'seller',
                   500 + g % 5000, 490 + g % 5000 - g % 50, CASE WHEN g % 40 = 0 THEN 'damaged' END,
                   (now() AT TIME ZONE 'utc') - make_interval(secs => ({count} - g) * (2592000.0 / {count})),
                   (now() AT TIME ZONE 'utc') - make_interval(secs => ({count} - g) * (2592000.0 / {count}))
            FROM generate_series(1, {count}) g JOIN parties b ON b.n = g % {PHONES}
                 JOIN parties s ON s.n = (g * 7 + 3) % {PHONES}"""))
        connection.execute(text("""
            INSERT INTO order_events (order_id, event, from_state, to_state, actor, at)
            SELECT id, 'order_created', NULL, 'awaiting_payment', 'buyer', created_at FROM orders"""))
        connection.execute(text("""
            INSERT INTO order_events (order_id, event, from_state, to_state, actor, reason, at)
            SELECT id, 'payment_received', 'awaiting_payment', 'funded', 'mpesa', 'receipt', created_at
            FROM orders WHERE state NOT IN ('expired', 'awaiting_payment')"""))
        connection.execute(text("""
            INSERT INTO payments_received (receipt, order_id, amount, channel, outcome, created_at)
            SELECT 'R' || lpad(id::text, 9, '0'), id, charge, 'stk', 'funded', created_at
            FROM orders WHERE state NOT IN ('expired', 'awaiting_payment')"""))
        connection.execute(text("""
            INSERT INTO journal_entries (kind, dedupe_key, order_id, created_at)
            SELECT 'payment', 'pay:' || id, id, created_at FROM orders WHERE state NOT IN ('expired', 'awaiting_payment')"""))
        connection.execute(text("""
            INSERT INTO postings (entry_id, account, order_id, amount)
            SELECT e.id, side.account, e.order_id, CASE WHEN side.account = 'mpesa_cash' THEN o.charge ELSE -o.charge END
            FROM journal_entries e JOIN orders o ON o.id = e.order_id
                 CROSS JOIN (VALUES ('mpesa_cash'), ('escrow_held')) AS side(account)"""))
        connection.execute(text("""
            INSERT INTO inbound_callbacks (source, body, status, received_at)
            SELECT 'stk', '{"Body": {"stkCallback": {"ResultCode": 0, "CallbackMetadata": {"Item": [{"Name": '
                   || '"MpesaReceiptNumber", "Value": "' || receipt || '"}, {"Name": "PhoneNumber", "Value": '
                   || '"2547***678"}]}}}}', 'applied', created_at
            FROM payments_received"""))
        connection.execute(text("ANALYZE"))
        disputed = connection.scalar(text("SELECT reference FROM orders WHERE state = 'disputed' ORDER BY id LIMIT 1"))
        receipt = connection.scalar(text("SELECT receipt FROM payments_received ORDER BY id DESC LIMIT 1"))
    return {"disputed": disputed, "receipt": receipt, "phone": numbers[7]}


def signed_in_client(app, _secret):
    import pyotp

    from console import Accounts, ConsoleSettings
    from escrow.audit import Actor

    zemi = app.extensions["zemi"]
    accounts = Accounts(zemi.db, zemi.core.vault, ConsoleSettings.from_mapping(zemi.settings))
    enrolment = accounts.add("bench", "admin", by=Actor("bench", "admin", "bench"))
    _, uri = accounts.pending_enrolment(enrolment.token)
    totp = pyotp.TOTP(re.search(r"secret=([A-Z2-7]+)", uri).group(1))
    accounts.enrol(enrolment.token, "benchmark password", "benchmark password", totp.at(time.time() - 30), "bench")
    client = app.test_client()
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").get_data(as_text=True)).group(1)
    response = client.post("/console/login", data={"csrf": csrf, "name": "bench", "password": "benchmark password",
                                                   "code": totp.now()})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def pages(app, found: dict) -> list[tuple[str, str]]:
    key = app.extensions["zemi"].core.vault.phone_key(found["phone"])
    return [("overview", "/console/"),
            ("orders, newest page", "/console/orders"),
            ("orders, page 500 back (keyset)", f"/console/orders?after={max(1, 100_000 - 25_000)}"),
            ("orders, state=disputed", "/console/orders?state=disputed"),
            ("orders, by phone (keyed hash)", f"/console/orders?party={key}"),
            ("orders, by receipt", f"/console/orders?q={found['receipt']}"),
            ("orders, by item text", "/console/orders?q=number 99999"),
            ("orders, date range", "/console/orders?from=2026-11-20&to=2026-11-21"),
            ("order page (disputed)", f"/console/orders/{found['disputed']}"),
            ("disputes desk", "/console/disputes"),
            ("findings (with the ledger check)", "/console/findings"),
            ("alerts", "/console/alerts"),
            ("lockouts", "/console/lockouts"),
            ("callbacks desk", "/console/callbacks"),
            ("SMS desk", "/console/sms"),
            ("report, 30 days", "/console/report?from=2026-11-03&to=2026-12-02"),
            ("audit log", "/console/audit"),
            ("CSV export, state=disputed", "/console/orders.csv?state=disputed")]


if __name__ == "__main__":
    sys.exit(main())
