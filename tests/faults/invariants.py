"""What must hold after every fault: the ledger checks out, and no money is lost, created or paid twice,
counted against what the Daraja simulator itself saw (it plays M-Pesa: what it took and paid is real)."""
from collections import Counter


def assert_money_whole(stack, *references: str) -> None:
    check = stack.flask("ledger", "check")
    assert check.returncode == 0, f"flask ledger check failed:\n{check.stdout}{check.stderr}"
    findings = stack.findings()
    for reference in references:
        (order_id, charge), = stack.sql("SELECT id, charge FROM orders WHERE reference = :r", r=reference)
        taken = len(stack.stk_requests_for(reference))   # every push these tests make is paid (simulator default)
        (received,), = stack.sql("SELECT count(*) FROM payments_received WHERE order_id = :o", o=order_id)
        flagged = [f for f in findings if f.get("order") == reference]
        assert received <= taken, f"order {reference}: {received} payments recorded, M-Pesa took {taken} (created)"
        assert taken <= received + len(flagged), (
            f"order {reference}: M-Pesa took {taken} payment(s); {received} recorded and {len(flagged)} "
            f"finding(s) name the order (money lost)\n{stack.report(reference)}")
        transfers = {r["json"]["OriginatorConversationID"]: int(r["json"]["Amount"])
                     for r in stack.b2c_requests_for(reference)}
        purposes = Counter(originator[len(reference) + 1] for originator in transfers)
        assert all(n <= 1 for n in purposes.values()), (
            f"order {reference}: M-Pesa made transfers {sorted(transfers)} (paid twice)")
        assert sum(transfers.values()) <= charge * max(1, taken), f"order {reference}: paid out more than came in"


def assert_one_transfer(stack, reference: str) -> None:
    """M-Pesa received exactly one B2C request for the order: nothing was re-sent."""
    requests = stack.b2c_requests_for(reference)
    assert len(requests) == 1, f"order {reference}: M-Pesa received {len(requests)} B2C requests"
