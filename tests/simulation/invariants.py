"""What must hold after a simulated run: the books against themselves and against the World.

Each check returns a list of violations (empty: it holds), worded so a failure says what was lost,
created or paid twice, and for which order.
"""
import json
from collections import defaultdict

from sqlalchemy import func, select

from escrow import ledger
from escrow.models import InboundCallback, Order, PaymentAttempt, PaymentReceived, Payout
from escrow.reports import ledger_findings
from escrow.states import TERMINAL, State
from tests.simulation.world import World

WAITING_FOR_MPESA = ("sent", "unknown")
PAYABLE = ("awaiting_payment", "checking_payment")
MONEY_MOVED = ("funded", "refunding")


def check_all(db, world: World, tally: dict | None = None) -> list[str]:
    """Every violation; `tally` (if given) receives why each non-terminal order is waiting."""
    with db.transaction() as session:
        books = Books(session, tally)
        return (ledger_is_whole(session) + books.every_taking_is_booked(world)
                + books.every_world_payout_is_booked(world) + books.every_booked_payout_happened(world)
                + books.money_out_never_exceeds_money_in(world) + books.nothing_forged_moved_money(world)
                + books.every_order_terminal_or_explained() + books.no_callback_left_unprocessed())


def ledger_is_whole(session) -> list[str]:
    """`flask ledger check`'s own function: balanced entries, zero sum, held = state, no double payout."""
    violations, _ = ledger_findings(session)
    return [f"ledger: {v}" for v in violations]


class Books:
    def __init__(self, session, tally: dict | None = None):
        self.session, self.tally = session, tally if tally is not None else {}
        self.orders = {o.reference: o for o in session.scalars(select(Order))}
        self.by_id = {o.id: o for o in self.orders.values()}
        all_attempts = list(session.scalars(select(PaymentAttempt)))
        self.attempts = {a.checkout_request_id: a for a in all_attempts if a.checkout_request_id}
        self.attempts_by_receipt = {a.receipt: a for a in all_attempts if a.receipt}
        self.attempts_by_order = defaultdict(list)
        for attempt in all_attempts:
            self.attempts_by_order[attempt.order_id].append(attempt)
        self.received = list(session.scalars(select(PaymentReceived)))
        self.received_by_receipt = {r.receipt: r for r in self.received}
        self.received_by_attempt = defaultdict(list)
        for row in self.received:
            if row.attempt_id is not None:
                self.received_by_attempt[row.attempt_id].append(row)
        self.payouts = {p.originator_conversation_id: p for p in session.scalars(select(Payout))}
        findings = session.execute(select(InboundCallback.body).where(InboundCallback.source == "finding")).scalars()
        self.findings = [body for body in findings]
        self.open_findings_by_order = defaultdict(int)
        for body in self.findings:
            try:
                self.open_findings_by_order[json.loads(body).get("order")] += 1
            except ValueError:
                pass

    def _found(self, *needles) -> bool:
        return any(needle and needle in body for body in self.findings for needle in needles)

    def every_taking_is_booked(self, world: World) -> list[str]:
        """Each payment M-Pesa took is funded, returned or in suspense; or it is named by a finding;
        or its order still waits with a query pending."""
        problems = []
        for take in world.takes.values():
            attempt = None
            row = self.received_by_receipt.get(take.receipt)
            booked = row is not None and row.amount == take.amount
            if take.channel == "stk" and not booked:
                attempt = self.attempts.get(take.checkout_id) or self.attempts_by_receipt.get(take.receipt)
                rows = self.received_by_attempt.get(attempt.id, []) if attempt else []
                booked = any(row.amount == take.amount for row in rows)
                if not booked and attempt is not None and attempt.status in WAITING_FOR_MPESA and \
                        self.orders[take.reference].state in PAYABLE:
                    continue  # a query is still due: the money is not lost yet
            if take.reversed and not booked:
                continue  # M-Pesa gave it back to the payer
            if not booked and not self._found(take.receipt, take.checkout_id):
                order = self.orders.get(take.reference)
                problems.append(f"lost: M-Pesa took KES {take.amount:,} ({take.channel} {take.receipt}, "
                                f"{take.checkout_id or '-'}) for order {take.reference} "
                                f"(now {order.state if order else '?'}; attempt "
                                f"{attempt.status if attempt else 'never recorded with this checkout id'}); "
                                f"not booked and no finding names it")
        return problems

    def every_world_payout_is_booked(self, world: World) -> list[str]:
        problems = []
        for transfer in world.paid_out():
            payout = self.payouts.get(transfer.originator_id)
            if payout is None:
                problems.append(f"M-Pesa paid KES {transfer.amount:,} under {transfer.originator_id}, "
                                f"a transfer we never recorded")
            elif payout.status != "succeeded" and not self._found(transfer.originator_id) and \
                    payout.status not in WAITING_FOR_MPESA:
                problems.append(f"M-Pesa paid {transfer.originator_id} (KES {transfer.amount:,}) but the books "
                                f"say {payout.status} and no finding names it")
        return problems

    def every_booked_payout_happened(self, world: World) -> list[str]:
        paid = {t.originator_id for t in world.paid_out()}
        return [f"the books say {p.purpose} {o} of KES {p.amount:,} succeeded; M-Pesa never paid it"
                for o, p in self.payouts.items() if p.status == "succeeded" and o not in paid]

    def money_out_never_exceeds_money_in(self, world: World) -> list[str]:
        """Per order, in the world: paid to phones <= taken from the buyer; and one payout at most."""
        taken, out, payouts_made = defaultdict(int), defaultdict(int), defaultdict(int)
        for take in world.takes.values():
            taken[take.reference] += take.amount
        problems = []
        for take in world.reversed.values():
            out[take.reference] += take.amount
        for transfer in world.paid_out():
            payout = self.payouts.get(transfer.originator_id)
            reference = self.by_id[payout.order_id].reference if payout else "?"
            out[reference] += transfer.amount
            if payout is not None and payout.purpose == "payout":
                payouts_made[reference] += 1
        for reference, amount in out.items():
            if amount > taken[reference]:
                problems.append(f"order {reference}: M-Pesa paid out KES {amount:,} but took only "
                                f"KES {taken[reference]:,} for it")
        problems += [f"order {ref}: the seller was paid {n} times" for ref, n in payouts_made.items() if n > 1]
        return problems

    def nothing_forged_moved_money(self, world: World) -> list[str]:
        return [f"forged receipt {r.receipt} (KES {r.amount:,}) was booked as {r.outcome} for order "
                f"{self.by_id[r.order_id].reference if r.order_id in self.by_id else '-'}"
                for r in self.received if r.receipt in world.forged_receipts and r.outcome in MONEY_MOVED]

    def every_order_terminal_or_explained(self) -> list[str]:
        problems = []
        for reference, order in self.orders.items():
            state = State(order.state)
            if state in TERMINAL:
                continue
            if self.open_findings_by_order.get(reference):
                self._waits(f"{state.value}: a finding names it")
                continue
            if state.value in PAYABLE and any(
                    a.status in WAITING_FOR_MPESA for a in self.attempts_by_order[order.id]):
                self._waits(f"{state.value}: payment being checked with M-Pesa")
                continue
            live = [p for p in self.payouts.values() if p.order_id == order.id and p.status in WAITING_FOR_MPESA]
            if state in (State.RELEASED, State.REFUNDING, State.SETTLING) and live:
                self._waits(f"{state.value}: a transfer's result or status query is due")
                continue
            problems.append(f"order {reference} stuck in {state.value} with no reason (no pending query, "
                            f"no finding)")
        return problems

    def _waits(self, why: str) -> None:
        self.tally[f"waiting, {why}"] = self.tally.get(f"waiting, {why}", 0) + 1

    def no_callback_left_unprocessed(self) -> list[str]:
        stuck = self.session.execute(select(InboundCallback.source, func.count()).where(
            InboundCallback.status == "received").group_by(InboundCallback.source)).all()
        return [f"{n} {source} callback(s) stored but never processed (status 'received')" for source, n in stuck]


def ledger_cash(session) -> int:
    return ledger.balance(session, ledger.MPESA_CASH)
