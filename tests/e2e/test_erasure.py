"""Erasing one person's number (issue 15, Keeping data): by SMS keyword through the real Africa's
Talking SDK and its double, in both languages, and by `flask data erase`. Afterwards no table and no
Redis key holds the number in clear, sealed or as its keyed hashes; the orders and the ledger stand."""
import hashlib
import re

from cryptography.fernet import InvalidToken
from sqlalchemy import select

from escrow.models import AuditEntry, Base, ErasureRequest, Order
from tests.conftest import TEST_SECRET_KEY
from tests.e2e.conftest import CALLBACK_TOKEN
from tests.e2e.test_journey import BUYER, SELLER, reference_in, settle
from tests.e2e.mpesa_live import rows
from ussd.session_store import digest

BUYER_FORMS = ("254712345678", "0712345678", "+254712345678", "%2B254712345678")


def traces_of(live, number: str) -> list[str]:
    """Every place the number still stands: a table cell (in clear, keyed hash, or inside a sealed
    value), a Redis key name or value."""
    vault = live.zemi.core.vault
    local = "0" + number[3:]
    needles = {number, local, vault.phone_key(number), digest(number, TEST_SECRET_KEY),
               hashlib.sha256(number.encode()).hexdigest()}
    found = []
    with live.zemi.db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                for cell in row:
                    text = str(cell)
                    if any(needle in text for needle in needles):
                        found.append(f"{table.name}: {text[:60]}")
                    elif isinstance(cell, str) and cell.startswith("gAAAA"):
                        try:
                            opened = vault._fernet.decrypt(cell.encode()).decode("utf-8", "replace")
                        except InvalidToken:
                            continue
                        if number in opened or local in opened or number[3:] in opened:
                            found.append(f"{table.name}: sealed {opened[:60]}")
    redis = live.zemi.redis
    for key in redis.scan_iter():
        value = redis.dump(key) or b""
        if any(needle.encode() in key or needle.encode() in value for needle in needles):
            found.append(f"redis {key[:40]!r}")
    return found


def journey(live, simulator, buyer=BUYER, seller="0722000111", item="Blue kitenge"):
    """A paid-out order between buyer and seller; its reference."""
    reference = reference_in(live.dial(buyer, "1", seller, "1500", item, "1")[-1])
    settle(live, simulator)
    live.dial(seller, "4", live.delivery_code(buyer), "1")
    settle(live, simulator)
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} paid_out")
    return reference


def texted(at_double, live, phone: str, text: str) -> None:
    assert at_double.post_inbound(f"{live.base_url}/hooks/sms/inbound/{CALLBACK_TOKEN}", phone, text) == 200


def answers_to(at_double, phone: str) -> list[str]:
    return [m["message"] for m in at_double.messages() if m["to"].endswith(phone[-9:])]


def confirmed(at_double, live, phone: str, word: str) -> None:
    """ERASE / FUTA is answered with a code; the person texts it back (tests/adversarial/test_forged_erase.py)."""
    texted(at_double, live, phone, word)
    live.run_worker()
    code = re.search(r"\b(\d{6})\b", answers_to(at_double, phone)[-1]).group(1)
    texted(at_double, live, phone, f"{word.strip()} {code}")


def test_erase_by_sms_with_no_open_order_answers_in_english_and_leaves_no_trace(live_with_at, simulator, at_double):
    live = live_with_at
    reference = journey(live, simulator)
    live.dial(BUYER)                              # a fresh USSD session: Redis holds its record
    confirmed(at_double, live, BUYER, "erase")
    live.run_worker()                             # the answer goes out; the erasure waits for its report
    assert answers_to(at_double, BUYER)[-1].startswith("Zemi: We are erasing your number now.")
    assert rows(live, ErasureRequest)[-1].status == "pending"
    assert at_double.post_delivery_reports(f"{live.base_url}/hooks/sms/delivery/{CALLBACK_TOKEN}")
    live.run_worker()

    request = rows(live, ErasureRequest)[-1]
    assert (request.status, request.phone_key, request.phone_sealed, request.source) == ("done", None, None, "sms")
    assert traces_of(live, "254712345678") == []
    assert traces_of(live, "254722000111"), "the seller was not erased"
    order = rows(live, Order, Order.reference == reference)[0]
    assert (order.state, order.charge, order.price, order.buyer_key) == ("paid_out", 1500, 1500, "erased")
    assert live.cli("ledger", "check").exit_code == 0
    shown = live.cli("orders", "show", reference).output
    assert shown.startswith(f"{reference} paid_out") and "buyer: **********" in shown
    assert [e.action for e in rows(live, AuditEntry)][-2:] == ["erasure_requested", "number_erased"]
    # the seller still sees the order, the buyer's number starred
    assert "**********" in "\n".join(live.dial(SELLER, "3", reference))
    # dialling again, the erased number is a new caller: greeted as one, and nothing of theirs is found
    again, fresh, known = live.dial(BUYER)[0], live.dial("0712999888")[0], live.dial(SELLER)[0]
    assert again == fresh != known
    assert reference not in live.cli("orders", "list", "--number", "0712345678").output
    assert reference in live.cli("orders", "list", "--number", "0722000111").output


def test_futa_with_an_order_in_progress_answers_in_kiswahili_and_erases_when_it_is_final(live_with_at, simulator,
                                                                                         at_double):
    live = live_with_at
    seller = "0722000333"
    reference = reference_in(live.dial(BUYER, "1", seller, "1500", "Jiko", "1")[-1])
    settle(live, simulator)
    confirmed(at_double, live, seller, "FUTA")
    confirmed(at_double, live, seller, " futa ")       # asked twice: one request, answered twice
    live.run_worker()
    assert [text[:27] for text in answers_to(at_double, seller)
            if text.startswith("Zemi: Una oda")] == ["Zemi: Una oda zinazoendelea"] * 2
    assert len(rows(live, ErasureRequest, ErasureRequest.status == "pending")) == 1
    assert at_double.post_delivery_reports(f"{live.base_url}/hooks/sms/delivery/{CALLBACK_TOKEN}")
    live.run_worker()
    assert rows(live, ErasureRequest, ErasureRequest.status.in_(("pending", "done")))[-1].status == "pending", \
        "an open deal must not lose its seller's number"
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} funded")

    live.dial(seller, "4", live.delivery_code(BUYER), "1")   # the deal goes on, and ends
    settle(live, simulator)
    assert at_double.post_delivery_reports(f"{live.base_url}/hooks/sms/delivery/{CALLBACK_TOKEN}")
    live.run_worker()
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} paid_out")
    assert rows(live, ErasureRequest, ErasureRequest.status.in_(("pending", "done")))[-1].status == "done"
    assert traces_of(live, "254722000333") == []
    assert live.cli("ledger", "check").exit_code == 0


def test_flask_data_erase_defers_for_an_open_order_and_erases_at_once_otherwise(live, simulator):
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Radio", "1")[-1])
    settle(live, simulator)
    deferred = live.cli("data", "erase", "0722000111", "--reason", "asked by phone 2 Dec")
    assert deferred.exit_code == 0 and f"deferred: 1 order(s) in progress ({reference})" in deferred.output
    assert "0722000111" not in deferred.output

    done = live.cli("data", "erase", "0712000999", "--reason", "asked by letter")   # never dialled: nothing kept
    assert done.exit_code == 0 and "erased" in done.output

    live.dial("0722000111", "4", live.delivery_code(BUYER), "1")
    settle(live, simulator)
    assert traces_of(live, "254722000111") == []
    assert live.cli("ledger", "check").exit_code == 0
    assert live.cli("orders", "show", reference).output.startswith(f"{reference} paid_out")


def test_the_worker_purges_texts_and_numbers_past_their_time_and_the_ledger_still_balances(live, simulator):
    from sqlalchemy import text

    reference = journey(live, simulator)
    with live.zemi.db.transaction() as session:   # a year and more ago
        sqlite = session.get_bind().dialect.name == "sqlite"
        for table, column in (("sms_messages", "created_at"), ("inbound_callbacks", "received_at"),
                              ("orders", "updated_at")):
            earlier = f"datetime({column}, '-400 days')" if sqlite else f"{column} - interval '400 days'"
            session.execute(text(f"UPDATE {table} SET {column} = {earlier}"))
    assert "sms: would purge 0" not in live.cli("data", "purge", "--dry-run").output
    live.run_worker()
    assert live.cli("data", "purge", "--dry-run").output.startswith("sms: would purge 0\ncallbacks: would purge 0\n"
                                                                    "numbers: would purge 0")
    key = live.zemi.core.vault.phone_key("254712345678")
    left = [trace for trace in traces_of(live, "254712345678") if not trace.startswith("redis")]
    assert left and all(trace.split(": ")[1] == key[:len(trace.split(": ")[1])] for trace in left), \
        f"after the purge only the keyed hash (orders, profile, SMS rows) should be left: {left}"
    assert {trace.split(":")[0] for trace in left} <= {"orders", "profiles", "sms_messages"}
    assert live.cli("ledger", "check").exit_code == 0
    shown = live.cli("orders", "show", reference).output
    assert shown.startswith(f"{reference} paid_out") and "KES 1,500" in shown and "buyer: **********" in shown
