"""Serving an app under gunicorn and driving it with concurrent USSD sessions over HTTP (bench/ussd.py)."""
import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from bench.stats import Stats, judge

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn from this interpreter's environment, in its own process group, stopped on exit."""

    def __init__(self, app_spec: str, env: dict, *, workers: int, threads: int, worker_class: str, log_path: Path,
                 python: str | os.PathLike | None = None):
        self.port = free_port()
        self.command = [str(python or sys.executable), "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
                        "--workers", str(workers), "--threads", str(threads), "--worker-class", worker_class,
                        "--timeout", "30", "--graceful-timeout", "5", "--log-level", "warning", app_spec]
        self.env, self.log_path, self.process = env, log_path, None
        self.ready_seconds = 120.0   # a loaded shared machine boots five workers of the app slowly

    def __enter__(self) -> "Gunicorn":
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready(self.ready_seconds)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /health within {limit:.0f} s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def cpu_seconds(self) -> float | None:
        """user+system CPU of the master and its workers (Linux /proc; None elsewhere)."""
        ticks, total = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100, 0
        try:
            entries = os.listdir("/proc")
        except OSError:
            return None
        for entry in entries:
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.process.pid:          # the process group we started
                total += int(fields[11]) + int(fields[12])   # utime, stime
        return total / ticks

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self._close_log()
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)   # the group we started: master and workers
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        self._close_log()

    def _close_log(self) -> None:
        if getattr(self, "log", None) and not self.log.closed:
            self.log.close()


def drive_http(server: "Gunicorn", scripts: list, *, concurrency: int, duration: float, name: str,
               check: bool, think: float = 0.0, path: str = "/ussd") -> Stats:
    """`concurrency` threads, each one connection, each running whole sessions back to back until the
    time limit (a session under way then finishes, uncounted) or until the scripts run out. `think`
    seconds on average (uniform 0.5x to 1.5x) pass between one hop's reply and the next hop of the same
    session, and the sessions' starts are spread over one think time, so they do not arrive in step."""
    port = server.port
    source = iter(scripts)
    source_lock = threading.Lock()
    results, threads = [], []
    began = time.perf_counter()
    deadline = began + duration
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Connection": "keep-alive"}

    def next_script():
        with source_lock:
            return next(source, None)

    def worker():
        stats = Stats(name)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        pace = random.Random()
        try:
            if think:
                time.sleep(min(pace.uniform(0, think), max(0.0, deadline - time.perf_counter())))
            while time.perf_counter() < deadline:
                script = next_script()
                if script is None:
                    stats.note = "scripts ran out"
                    break
                forms = list(script.forms())
                for position, (label, form) in enumerate(zip(script.labels, forms)):
                    body = urllib.parse.urlencode(form)
                    started = time.perf_counter()
                    try:
                        conn.request("POST", path, body, headers)
                        response = conn.getresponse()
                        reply = response.read().decode()
                        status = response.status
                        if response.will_close:
                            conn.close()
                    except (OSError, http.client.HTTPException) as exc:
                        conn.close()
                        if started < deadline:
                            stats.error(f"{type(exc).__name__}: {exc}")
                        break
                    finished = time.perf_counter()
                    counted = finished <= deadline
                    if counted:
                        stats.add(label, finished - started)
                    problem = (f"HTTP {status}" if status != 200
                               else judge(reply, position == len(forms) - 1, script) if check
                               else None if reply.startswith(("CON ", "END ")) else f"got {reply[:60]!r}")
                    if problem:
                        if counted:
                            stats.error(problem)
                        break
                    if think and position < len(forms) - 1:
                        time.sleep(min(pace.uniform(0.5, 1.5) * think, max(0.0, deadline - time.perf_counter())))
                if time.perf_counter() <= deadline:
                    stats.sessions += 1
        finally:
            conn.close()
            results.append(stats)

    at_end = {}

    def sample_at_deadline():   # CPU counted up to the deadline, not while the last sessions finish
        time.sleep(max(0.0, deadline - time.perf_counter()))
        at_end.update(server=server.cpu_seconds(), client=time.process_time())

    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    sampler = threading.Thread(target=sample_at_deadline, daemon=True)
    sampler.start()
    for _ in range(concurrency):
        thread = threading.Thread(target=worker, daemon=True)
        threads.append(thread)
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 60)
    total = Stats(name)
    for stats in results:
        total.merge(stats)
        total.note = total.note or stats.note
    total.seconds = min(time.perf_counter(), deadline) - began
    sampler.join(timeout=duration + 5)
    total.client_cpu = at_end.get("client", time.process_time()) - client_cpu
    server_after = at_end.get("server")
    total.server_cpu = None if server_cpu is None or server_after is None else server_after - server_cpu
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        total.note = f"{stuck} client threads still running at the end"
    return total
