"""The faults a Simulation injects besides the World's (tests/simulation/world.py): a database that goes
away mid-statement, a Redis that is not there (a closed port), and PostgreSQL's durability relaxed for speed."""
import socket

from sqlalchemy import event
from sqlalchemy.exc import OperationalError


class InjectedOutage(Exception):
    """Marks the OperationalError our statement hook raised (its `orig`)."""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]   # closed again when we return: nothing listens there


class DatabaseOutage:
    """Raises OperationalError at the n-th statement after `arm(n)`, as a database that went away."""

    def __init__(self, engine):
        self.countdown = None
        self.fired = 0
        event.listen(engine, "before_cursor_execute", self._before)

    def arm(self, n: int) -> None:
        self.countdown = n

    def disarm(self) -> bool:
        fired_before, self.countdown = self.fired, None
        return fired_before

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.countdown is None:
            return
        self.countdown -= 1
        if self.countdown <= 0:
            self.countdown = None
            self.fired += 1
            raise OperationalError(statement, None, InjectedOutage("server closed the connection (injected)"))


def relax_durability(engine) -> None:
    """PostgreSQL without waiting for the WAL flush on each commit (this session only: the server's
    settings are untouched). Thousands of commits per run, and a crash of the test's own server is
    not what this suite simulates."""
    if engine.dialect.name != "postgresql":
        return
    event.listen(engine, "connect", lambda connection, _record: _sql(connection, "SET synchronous_commit TO OFF",
                                                                     commit=True))
    engine.dispose()


def _sql(connection, statement: str, commit: bool = False) -> None:
    """`commit`: leave a new connection outside any transaction, as the pool hands it out (the callback
    INSERT and lone reads switch it to autocommit, which psycopg refuses mid-transaction)."""
    cursor = connection.cursor()
    cursor.execute(statement)
    cursor.close()
    if commit:
        connection.commit()
