"""A callback that arrives while PostgreSQL is down is kept in a local journal flushed to disk and
applied once the database is back (issue 11 finding 1, durable intake); only when neither the
database nor the journal can keep it does the endpoint answer 503."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
from glob import glob
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app import create_app
from escrow.callback_journal import CallbackJournal
from escrow.migrate import upgrade
from escrow.models import InboundCallback, Order, PaymentAttempt
from tests.conftest import TEST_DATA_KEY, TEST_SECRET_KEY

TOKEN = "journal-test-token"


def settings(database_url, redis_url, tmp_path, **extra) -> dict:
    return {"INSTANCE_PATH": str(tmp_path / "instance"), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "CALLBACK_TOKEN": TOKEN, "SECRET_KEY": TEST_SECRET_KEY, "DATA_KEY": TEST_DATA_KEY,
            "STK_DELAY_SECONDS": "0", "SMS_BACKEND": "console", "RECONCILE_EVERY_SECONDS": "3600", **extra}


def stk_success(checkout_id: str, amount: int, receipt: str) -> dict:
    return {"Body": {"stkCallback": {"MerchantRequestID": "1", "CheckoutRequestID": checkout_id, "ResultCode": 0,
                                     "ResultDesc": "ok", "CallbackMetadata": {"Item": [
                                         {"Name": "Amount", "Value": amount},
                                         {"Name": "MpesaReceiptNumber", "Value": receipt},
                                         {"Name": "PhoneNumber", "Value": 254711222333}]}}}}


# --- the journal file -------------------------------------------------------------------------
def test_a_torn_last_line_is_skipped_and_later_records_still_read(tmp_path):
    journal = CallbackJournal(tmp_path / "journal")
    first = journal.append({"source": "stk", "sealed": "a"})
    [path] = glob(str(tmp_path / "journal" / "*"))
    with open(path, "ab") as handle:
        handle.write(b'\n{"half a rec')           # a crash in the middle of a write
    second = journal.append({"source": "b2c_result", "sealed": "b"})
    batches = list(journal.batches())
    records = [record for _, batch in batches for record in batch]
    assert [record["id"] for record in records] == [first, second]
    assert [record["source"] for record in records] == ["stk", "b2c_result"]


def test_a_record_whose_checksum_does_not_match_is_skipped(tmp_path):
    journal = CallbackJournal(tmp_path / "journal")
    journal.append({"source": "stk", "sealed": "abc"})
    [path] = glob(str(tmp_path / "journal" / "*"))
    Path(path).write_bytes(Path(path).read_bytes().replace(b'"abc"', b'"abd"'))
    assert [record for _, batch in journal.batches() for record in batch] == []


def test_records_appended_while_a_replay_takes_files_away_are_each_read_exactly_once(tmp_path):
    """A writer that opened the file just before the replay renamed it must not append to a file
    already read (it checks, under the lock, that the name still points at its file)."""
    import threading

    journal = CallbackJournal(tmp_path / "journal")
    written, read, stop = [], [], threading.Event()

    def write():
        for n in range(300):
            written.append(journal.append({"source": "stk", "sealed": str(n)}))
        stop.set()

    def replay():
        while True:
            finished = stop.is_set()
            for path, batch in journal.batches():
                read.extend(record["id"] for record in batch)
                journal.done(path)
            if finished:
                return

    writer, replayer = threading.Thread(target=write), threading.Thread(target=replay)
    writer.start(), replayer.start()
    writer.join(), replayer.join()
    assert sorted(read) == sorted(written) and len(set(read)) == 300


# --- the endpoint, when the database cannot be reached ----------------------------------------
def test_when_neither_database_nor_journal_can_keep_it_the_answer_is_503(redis_url, tmp_path):
    (tmp_path / "a-file").write_text("")
    app = create_app(settings("postgresql://postgres@127.0.0.1:1/nowhere", redis_url, tmp_path,
                              CALLBACK_JOURNAL_DIR=str(tmp_path / "a-file" / "journal")))
    client = app.test_client()
    assert client.post(f"/hooks/stk/{TOKEN}", json=stk_success("ws_CO_1", 1000, "R1")).status_code == 503
    assert client.post(f"/hooks/sms/delivery/{TOKEN}", data={"id": "x", "status": "Success"}).status_code == 503
    assert client.post(f"/hooks/c2b/confirmation/{TOKEN}", json={"TransID": "T1"}).status_code == 503


def test_when_the_database_is_unreachable_the_callback_is_journaled_and_acknowledged(redis_url, tmp_path):
    app = create_app(settings("postgresql://postgres@127.0.0.1:1/nowhere", redis_url, tmp_path))
    response = app.test_client().post(f"/hooks/b2c/result/{TOKEN}", json={"Result": {"ResultCode": 0}})
    assert response.status_code == 200 and response.get_json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    [path] = glob(str(tmp_path / "instance" / "callback-journal" / "*"))
    assert "ResultCode" not in Path(path).read_text()   # the body is sealed
    [[record]] = [batch for _, batch in CallbackJournal(Path(path).parent).batches()]
    assert record["source"] == "b2c_result" and record["remote_addr"] == "127.0.0.1"


def test_a_replay_interrupted_before_the_file_is_removed_inserts_nothing_twice(database_url, redis_url, tmp_path):
    journal_dir = tmp_path / "journal"
    app = create_app(settings(database_url, redis_url, tmp_path, CALLBACK_JOURNAL_DIR=str(journal_dir)))
    intake = app.extensions["zemi"].service.intake
    intake.journal.append(intake.journal_record(source="sms_delivery", body=b"id=ATXid_9&status=Success",
                                                remote_addr="10.0.0.1"))
    [path] = glob(str(journal_dir / "*"))
    saved = Path(path).read_bytes()
    assert intake.replay_journal() == 1
    Path(path).write_bytes(saved)                # as if the replayer died before removing the file
    assert intake.replay_journal() == 0
    with app.extensions["zemi"].db.transaction() as session:
        rows = session.scalars(select(InboundCallback).where(InboundCallback.source == "sms_delivery")).all()
    assert len(rows) == 1 and rows[0].remote_addr == "10.0.0.1" and rows[0].status != "received"
    assert glob(str(journal_dir / "*")) == []


def test_a_journaled_callback_being_replayed_is_not_taken_by_another_workers_claim(database_url, redis_url,
                                                                                    tmp_path):
    """The worker that replays a journaled STK callback applies it; another worker claiming stored
    callbacks meanwhile leaves that row alone (it is born leased), so it is applied once, never
    also seen as its own 'duplicate'."""
    app = create_app(settings(database_url, redis_url, tmp_path, CALLBACK_JOURNAL_DIR=str(tmp_path / "journal")))
    zemi = app.extensions["zemi"]
    try:
        view = zemi.service.create_order(buyer="0711222333", seller="0722000111", price=1_000, item="Kitenge")
        with zemi.db.transaction() as session:
            order_id = session.scalar(select(Order.id).where(Order.reference == view.reference))
            attempt_id, charge = session.execute(select(PaymentAttempt.id, PaymentAttempt.amount)
                                                 .where(PaymentAttempt.order_id == order_id)).one()
            session.execute(update(PaymentAttempt).values(status="sent", checkout_request_id="ws_CO_J_1"))
        intake, claimed = zemi.service.intake, []
        intake.journal.append(intake.journal_record(
            source="stk", body=json.dumps(stk_success("ws_CO_J_1", charge, "RJ00000001")).encode(),
            remote_addr="10.0.0.1", attempt_id=attempt_id))
        apply = intake.processors["stk"]

        def another_worker_claims_first(raw, callback_id):
            claimed.append(intake.apply_waiting())
            return apply(raw, callback_id)

        intake.processors["stk"] = another_worker_claims_first
        assert intake.replay_journal() == 1 and claimed == [0]
        with zemi.db.transaction() as session:
            assert session.get(Order, order_id).state == "funded"
            assert session.scalars(select(InboundCallback.status)).all() == ["applied"]
    finally:
        zemi.db.dispose()


# --- a PostgreSQL of our own, stopped and started -------------------------------------------
def _pg_bin() -> Path | None:
    found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@pytest.fixture
def own_postgres():
    """A throwaway PostgreSQL on a free port: yields (url, stop, start)."""
    bindir = _pg_bin()
    if bindir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("no PostgreSQL server binaries (or runuser, needed as root) to start a server of our own")
    base = tempfile.mkdtemp(prefix="zemi-h4-pg-", dir="/tmp")
    data, log = os.path.join(base, "data"), os.path.join(base, "log")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    try:
        subprocess.run(_as_postgres(str(bindir / "initdb"), "-D", data, "-U", "postgres", "--auth=trust"),
                       check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as error:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not initdb a PostgreSQL of our own: {error}")

    def ctl(*args):
        subprocess.run(_as_postgres(str(bindir / "pg_ctl"), "-D", data, "-l", log, "-w", *args),
                       check=True, capture_output=True, timeout=120)

    start = lambda: ctl("-o", f"-p {port} -k /tmp -c listen_addresses=127.0.0.1", "start")  # noqa: E731
    stop = lambda: ctl("-m", "fast", "stop")  # noqa: E731
    start()
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", stop, start
    finally:
        subprocess.run(_as_postgres(str(bindir / "pg_ctl"), "-D", data, "-m", "immediate", "stop"),
                       capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def test_a_callback_posted_while_postgres_is_stopped_is_applied_once_it_is_back(own_postgres, redis_url, tmp_path):
    url, stop_postgres, start_postgres = own_postgres
    upgrade(url)
    app = create_app(settings(url, redis_url, tmp_path))
    zemi = app.extensions["zemi"]
    view = zemi.service.create_order(buyer="0711222333", seller="0722000111", price=1_000, item="Kitenge")
    with zemi.db.transaction() as session:
        session.execute(update(PaymentAttempt).values(status="sent", checkout_request_id="ws_CO_down"))
        amount = session.scalar(select(PaymentAttempt.amount))

    stop_postgres()
    response = app.test_client().post(f"/hooks/stk/{TOKEN}", json=stk_success("ws_CO_down", amount, "DOWN1RCPT"))
    assert response.status_code == 200
    [journal_file] = glob(str(tmp_path / "instance" / "callback-journal" / "*"))
    assert Path(journal_file).stat().st_size > 0

    start_postgres()
    assert "wait to be replayed" in app.test_cli_runner().invoke(args=["ledger", "check"]).output
    with app.app_context():
        zemi.worker().run_once()
    assert "wait to be replayed" not in app.test_cli_runner().invoke(args=["ledger", "check"]).output
    with zemi.db.transaction() as session:
        assert session.scalar(select(Order.state).where(Order.reference == view.reference)) == "funded"
        [callback] = session.scalars(select(InboundCallback).where(InboundCallback.source == "stk")).all()
        assert callback.status == "applied"
        assert "254711222333" not in callback.body and json.loads(zemi.core.vault.unseal(callback.body_sealed))
    assert glob(str(tmp_path / "instance" / "callback-journal" / "*")) == []
    zemi.db.dispose()
