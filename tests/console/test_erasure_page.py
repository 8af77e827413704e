"""An admin erases a person's number from the console: a fresh authenticator code and a reason, the
request audited under the admin's name, carried out by the worker (or held while an order is open);
agents and viewers cannot."""
from escrow.models import AuditEntry, ErasureRequest
from tests.console.conftest import csrf_of
from tests.e2e.test_erasure import traces_of
from tests.e2e.test_journey import BUYER, reference_in, settle
from tests.e2e.mpesa_live import rows


def erase(client, operators, form: dict):
    token = csrf_of(client, "/console/erase")
    return client.post("/console/erase", data={**form, "csrf": token})


def test_an_admin_erases_a_number_and_the_worker_carries_it_out(live, operators):
    operators.enrolled("amina", "admin")
    admin = operators.client("amina")
    live.dial("0712000444")                                   # a caller Zemi now knows (profile, Redis)
    refused = erase(admin, operators, {"number": "0712000444", "reason": "asked by letter, 2 Dec", "code": "000000"})
    assert refused.status_code in (400, 403) and rows(live, ErasureRequest) == []

    done = erase(admin, operators, {"number": "0712000444", "reason": "asked by letter, 2 Dec",
                                    "code": operators.step_up_code("amina")})
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and "Erasure #1 of 0712***444 recorded" in page and "0712000444" not in page
    audit = rows(live, AuditEntry, AuditEntry.action == "erasure_requested")[-1]
    assert (audit.operator, audit.reason) == ("amina", "asked by letter, 2 Dec")
    live.run_worker()
    assert rows(live, ErasureRequest)[-1].status == "done"
    assert traces_of(live, "254712000444") == []


def test_an_erasure_asked_in_the_console_waits_for_an_order_in_progress(live, simulator, operators):
    operators.enrolled("amina", "admin")
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Radio", "1")[-1])
    settle(live, simulator)
    done = erase(operators.client("amina"), operators, {"number": "0712345678", "reason": "phone call",
                                                         "code": operators.step_up_code("amina")})
    assert f"waits for 1 order(s) in progress" in done.get_data(as_text=True)
    assert reference in done.get_data(as_text=True)
    live.run_worker()
    assert rows(live, ErasureRequest)[-1].status == "pending"


def test_agents_and_viewers_cannot_erase(live, operators):
    for name, role in (("otieno", "agent"), ("wanjiku", "viewer")):
        operators.enrolled(name, role)
        client = operators.client(name)
        assert client.get("/console/erase").status_code == 403
        token = csrf_of(client, "/console/")
        assert client.post("/console/erase", data={"number": "0712000444", "reason": "x", "csrf": token}
                           ).status_code == 403
    assert rows(live, ErasureRequest) == []
