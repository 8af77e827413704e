"""Statement-pass races the other adversarial files do not line up, on real PostgreSQL: two statement
passes at once (the scheduled pass and a portal-export import) matching lines to the same payment we
funded on an STK query's word, and a statement line posting a receipt nobody recorded while the live
callback (paybill confirmation or late STK callback) for that very receipt is applied. Each ends with
the money: every receipt on the statement booked exactly once, no payment matched by two lines, an
order funded at most once, and the books' own checks."""
import threading
from datetime import timedelta

from sqlalchemy import func, select

from escrow import ledger
from escrow.db import Database, db_now
from escrow.intake import CallbackIntake
from escrow.models import Order, PaymentReceived, Posting, StatementLine
from escrow.paybill import PaybillPayment
from escrow.payments import PaymentResult
from escrow.ports import PaymentStatus
from escrow.reconcile import apply_payment_query
from escrow.statement.passes import StatementReconciler, StatementSettings
from escrow.statement.runs import StatementEntry
from tests.adversarial.conftest import books_ok, needs_postgres, race
from tests.adversarial.test_money_in_races import money_of, pushed_order
from tests.adversarial.test_settlement_races import PauseBefore
from tests.integration.test_escrow_core import BUYER, SELLER

SHORTCODE = "174379"
CHANNELS = ("stk", "paybill")


class OneShortcode:
    def statement_shortcodes(self):
        return {SHORTCODE: CHANNELS}

    def fetch_statement(self, *, shortcode, start, end):
        raise AssertionError("the tests give the lines")


def run_pass(db, core, entries, hours=2):
    """One statement run (as `flask reconcile statement --csv` or the scheduled pass) over these lines."""
    with db.transaction() as session:
        now = db_now(session)
    reconciler = StatementReconciler(db, core, OneShortcode(), StatementSettings())
    return reconciler.run_window(SHORTCODE, CHANNELS, now - timedelta(hours=hours), now + timedelta(minutes=1),
                                 entries=entries)


def line(db, receipt, amount, account="", kind="CustomerPayBillOnline"):
    with db.transaction() as session:
        at = db_now(session)
    return StatementEntry(shortcode=SHORTCODE, receipt=receipt, at=at, kind=kind, amount=amount, account=account)


def query_funded(world):
    """An order funded on an STK query's word (receipt QRY-<attempt>): its real receipt not yet named."""
    service = world[0]
    order, attempt_id, checkout_id = pushed_order(world)
    with service.db.transaction() as session:
        assert apply_payment_query(session, service.core, attempt_id,
                                   PaymentStatus(False, "0", "paid")) == "funded"
    return order, attempt_id, checkout_id


def statement_books(database, receipts):
    """{receipt: (line status, payment id)} of these statement lines, the money-in facts recorded, and
    the M-Pesa cash the ledger holds in total (net over the cash accounts, so a cash placement between
    them counts zero; nothing goes out in these tests)."""
    with database.transaction() as session:
        lines = {r.receipt: (r.status, r.payment_id) for r in session.execute(
            select(StatementLine.receipt, StatementLine.status, StatementLine.payment_id)
            .where(StatementLine.receipt.in_(receipts)))}
        payments = session.execute(select(PaymentReceived.id, PaymentReceived.receipt,
                                          PaymentReceived.amount)).all()
        cash_in = session.scalar(select(func.coalesce(func.sum(Posting.amount), 0)).where(
            (Posting.account == ledger.MPESA_CASH) | Posting.account.like(ledger.CASH_PREFIX + "%")))
    return lines, payments, cash_in


# --- 1. two passes at once match two real payments to one query-funded payment ------------------
def test_two_passes_at_once_never_match_two_till_lines_to_one_query_funded_payment(world, database,
                                                                                     database_url):
    """Till mode (no account on the line): two real payments of the same amount, R1 and R2; our books
    hold one of them, funded by STK query as QRY-<attempt>. The scheduled pass sees R1 and a portal
    import sees R2 at the same moment. Run one after the other, one line matches the query-funded
    payment and the other is posted (suspense): both shillings are in the books. At once, both passes
    must not take the same unmatched payment, or R2's money is on M-Pesa's statement and never booked."""
    needs_postgres(database)
    service = world[0]
    order, _, _ = query_funded(world)
    r1, r2 = line(database, "SLTILL0001", order.charge), line(database, "SLTILL0002", order.charge)

    other = Database(database_url)
    try:   # pass X picks the query-funded payment, then is paused before it links its line to it
        pause = PauseBefore(other.engine, lambda sql, params: sql.lstrip().upper().startswith(
            "UPDATE STATEMENT_LINES") and isinstance(params, dict) and params.get("payment_id") is not None)
        outcome = {}
        first = threading.Thread(target=lambda: outcome.setdefault("x", run_pass(other, service.core, [r1])))
        first.start()
        assert pause.reached.wait(20), "pass X never reached its link"
        second = threading.Thread(target=lambda: outcome.setdefault("y", run_pass(database, service.core, [r2])))
        second.start()
        second.join(2)            # pass Y: its whole run (or it waits for X's matching to end)
        pause.go.set()
        first.join(30)
        second.join(30)
        assert not first.is_alive() and not second.is_alive()
    finally:
        other.dispose()
    run_pass(database, service.core, [r1, r2])    # a later overlapping window sees both lines again

    lines, payments, cash_in = statement_books(database, [r1.receipt, r2.receipt])
    linked = [pid for _, pid in lines.values()]
    assert set(lines) == {r1.receipt, r2.receipt}, lines
    assert None not in linked and len(set(linked)) == 2, (
        f"two statement lines, two real payments of KES {order.charge:,} each, but lines {lines} name "
        f"payments {linked}: one money-in fact matched twice (runs {outcome.get('x')} / {outcome.get('y')})")
    assert cash_in == 2 * order.charge, (
        f"M-Pesa's statement shows KES {2 * order.charge:,} in; the ledger booked KES {cash_in:,} "
        f"(payments {payments})")
    books_ok(database)


def test_two_till_lines_one_pass_after_the_other_book_both(world, database):
    """The control of the race above: the same two passes one after the other book both payments."""
    needs_postgres(database)
    service = world[0]
    order, _, _ = query_funded(world)
    r1, r2 = line(database, "SLTILS0001", order.charge), line(database, "SLTILS0002", order.charge)
    run_pass(database, service.core, [r1])
    run_pass(database, service.core, [r2])
    lines, payments, cash_in = statement_books(database, [r1.receipt, r2.receipt])
    linked = [pid for _, pid in lines.values()]
    assert None not in linked and len(set(linked)) == 2, (lines, payments)
    assert cash_in == 2 * order.charge, (cash_in, payments)
    books_ok(database)


def test_two_passes_racing_over_till_lines_book_every_receipt_once(world, database):
    """No pause: the two passes at once, a few rounds. Whatever interleaving, every line is its own
    money-in fact and every shilling on the statement is in the ledger."""
    needs_postgres(database)
    service = world[0]
    bad = []
    for round_ in range(10):
        order, _, _ = query_funded(world)
        r1 = line(database, f"SLTR{round_:04d}A", order.charge)
        r2 = line(database, f"SLTR{round_:04d}B", order.charge)
        with database.transaction() as session:
            cash_before = session.scalar(select(func.coalesce(func.sum(Posting.amount), 0)).where(
                (Posting.account == ledger.MPESA_CASH) | Posting.account.like(ledger.CASH_PREFIX + "%")))
        outcomes = race([lambda: run_pass(database, service.core, [r1]),
                         lambda: run_pass(database, service.core, [r2])])
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        lines, _, cash_in = statement_books(database, [r1.receipt, r2.receipt])
        linked = [pid for _, pid in lines.values()]
        if len(set(linked)) != 2 or None in linked or cash_in - cash_before != order.charge:
            bad.append((round_, lines, cash_in - cash_before, [str(o) for o in outcomes]))
    assert bad == [], f"{len(bad)} of 10 rounds where a real payment on the statement was never booked: {bad}"


# --- 2. a statement line posting new money while the live callback for that receipt is applied -----
def test_a_statement_line_posting_a_paybill_receipt_while_its_confirmation_is_applied_funds_once(world,
                                                                                                  database):
    """A paybill payment's confirmation is late: the statement pass finds its line with no record and
    posts it ('statement-new') at the moment the live confirmation (or its retry) is applied. The
    receipt is one payment: booked once, the order funded once, nothing owed back."""
    needs_postgres(database)
    service = world[0]
    for round_ in range(12):
        order = service.create_order(buyer=BUYER, seller=SELLER, price=2_000 + round_,
                                     item="Radio")
        receipt = f"SLPB{round_:06d}"
        entry = line(database, receipt, order.charge, account=order.reference)
        paybill = PaybillPayment(trans_id=receipt, amount=order.charge, account=order.reference,
                                 shortcode=SHORTCODE)

        def confirmation():
            return CallbackIntake._run(lambda _r, _i: service.record_paybill_payment(paybill), "", 0)
        racers = [lambda: run_pass(database, service.core, [entry]), confirmation]
        if round_ % 3 == 2:
            racers.append(confirmation)     # and its retry, a moment later on another worker
        outcomes = race(racers)
        assert not [o for o in outcomes if isinstance(o, Exception)], (round_, outcomes)
        state, held, owed_back, suspense, receipts, money_in, money_out = money_of(database, order.reference)
        assert receipts == [receipt] and money_in == order.charge, (round_, receipts, money_in, outcomes)
        assert (state, held, owed_back, suspense, money_out) == ("funded", order.charge, 0, 0, 0), (
            round_, state, held, owed_back, suspense, money_out, outcomes)
        lines, _, _ = statement_books(database, [receipt])
        assert lines[receipt][1] is not None, (round_, lines)
    books_ok(database)


def test_a_statement_line_settling_an_open_push_while_its_late_callback_arrives_funds_once(world, database):
    """An STK push is still open (callback late): the statement pass settles it from its line (as the late
    callback would) at the moment the real callback arrives, every other round with the reconciler's STK
    query too. One payment: one receipt booked, the order funded once, nothing returned."""
    needs_postgres(database)
    service = world[0]
    for round_ in range(12):
        order, attempt_id, checkout_id = pushed_order(world, price=3_000 + round_)
        receipt = f"SLSK{round_:06d}"
        entry = line(database, receipt, order.charge, account=order.reference,
                     kind="CustomerPayBillOnline")
        stk = PaymentResult(checkout_id, True, "0", "ok", order.charge, receipt)

        def query():
            with service.db.transaction() as session:
                return apply_payment_query(session, service.core, attempt_id, PaymentStatus(False, "0", "paid"))
        racers = [lambda: run_pass(database, service.core, [entry]),
                  lambda: CallbackIntake._run(lambda _r, _i: service.record_payment_result(stk), "", 0)]
        if round_ % 2:
            racers.append(query)
        outcomes = race(racers)
        assert not [o for o in outcomes if isinstance(o, Exception)], (round_, outcomes)
        run_pass(database, service.core, [entry])      # a later overlapping window sees the line again
        state, held, owed_back, suspense, receipts, money_in, money_out = money_of(database, order.reference)
        assert len(receipts) == 1 and money_in == order.charge, (round_, receipts, money_in, outcomes)
        assert (state, held, owed_back, suspense, money_out) == ("funded", order.charge, 0, 0, 0), (
            round_, state, held, owed_back, suspense, money_out, outcomes)
        lines, _, _ = statement_books(database, [receipt])
        assert lines[receipt][1] is not None, (round_, lines)
        with database.transaction() as session:
            order_id = session.scalar(select(Order.id).where(Order.reference == order.reference))
            linked_twice = session.scalar(select(func.count()).select_from(StatementLine).where(
                StatementLine.payment_id.in_(select(PaymentReceived.id).where(PaymentReceived.order_id == order_id))))
        assert linked_twice == 1, (round_, linked_twice)
    books_ok(database)


def test_a_statement_pass_settling_an_open_push_while_the_query_funds_it_counts_one_payment(world, database,
                                                                                             database_url):
    """The other order of test_statement_races.py: the statement pass has locked the open push and is
    paused before it settles it from its line; the reconciler's STK query (which read the push as still
    open) then tries to fund it as QRY-<attempt>. One payment: M-Pesa's receipt booked once, nothing
    minted under QRY-, the order funded once, nothing owed back."""
    needs_postgres(database)
    from escrow.models import PaymentAttempt
    service = world[0]
    order, attempt_id, _ = pushed_order(world)
    entry = line(database, "SLPQ000001", order.charge, account=order.reference)
    other = Database(database_url)
    try:
        pause = PauseBefore(other.engine, lambda sql, params: sql.lstrip().upper().startswith(
            "UPDATE PAYMENT_ATTEMPTS") and isinstance(params, dict) and params.get("status") == "succeeded")
        outcome = {}
        statement = threading.Thread(target=lambda: outcome.setdefault("line", run_pass(other, service.core, [entry])))
        statement.start()
        assert pause.reached.wait(20), "the statement pass never reached its settlement of the push"

        def query():
            with service.db.transaction() as session:
                outcome["query"] = apply_payment_query(session, service.core, attempt_id,
                                                       PaymentStatus(False, "0", "paid"))
        querier = threading.Thread(target=query)
        querier.start()
        querier.join(1)                      # the query reads the push open, then waits on its lock
        pause.go.set()
        statement.join(30)
        querier.join(30)
        assert not statement.is_alive() and not querier.is_alive()
    finally:
        other.dispose()
    state, held, owed_back, suspense, receipts, money_in, money_out = money_of(database, order.reference)
    assert receipts == [entry.receipt] and money_in == order.charge, (receipts, money_in, outcome)
    assert (state, held, owed_back, suspense, money_out) == ("funded", order.charge, 0, 0, 0), (
        state, held, owed_back, suspense, money_out, outcome)
    with database.transaction() as session:
        assert session.scalar(select(PaymentAttempt.receipt).where(PaymentAttempt.id == attempt_id)) == entry.receipt
    books_ok(database)
