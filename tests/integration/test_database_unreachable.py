"""A PostgreSQL that accepts a connection and then says nothing (a half-dead host, a partition)
must fail a unit of work in seconds: callbacks then fall back to the journal instead of hanging."""
import socket
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from escrow.db import Database


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


@pytest.mark.timeout(30)
def test_a_silent_postgresql_fails_the_unit_of_work_instead_of_hanging(silent_server):
    database = Database(f"postgresql://postgres@127.0.0.1:{silent_server}/zemi")
    try:
        with pytest.raises(OperationalError):
            with database.transaction() as session:
                session.execute(text("SELECT 1"))
    finally:
        database.dispose()
