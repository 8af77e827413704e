"""The running service as production runs it, in processes the fault tests may kill:
gunicorn (`app:create_app()`), `flask worker`, `flask mpesa simulate`, with chaos proxies in front
of the simulator (MPESA_BASE_URL), of the app's callback paths (PUBLIC_BASE_URL: the simulator
posts callbacks there) and of the Africa's Talking double (AT_API_BASE_URL)."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from escrow.db import Database
from escrow.vault import Vault, new_data_key
from tests.chaos_proxy import ChaosProxy
from tests.faults.servers import free_port, port_open, tied_to_this_process, wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CALLBACK_TOKEN = "faults-callback-token"
USSD_TOKEN = "faults-ussd-token"
SECRET_KEY = "faults-secret-key-not-for-production"
SIM_PORT_HINT = "the Daraja simulator"
STK_PATH = "/mpesa/stkpush/v1/processrequest"
B2C_PATH = "/mpesa/b2c/"
TABLES = ("postings", "journal_entries", "payments_received", "payouts", "payment_attempts", "order_events",
          "sms_messages", "code_attempts", "outbox", "inbound_callbacks", "profiles", "orders")
RESUME_PROMPT = "Continue where you left off?"   # escrow/catalog ussd.resume.ask (English)
SETTLE = 25.0   # seconds a scenario may take to converge before it is reported as not converging


class Process:
    """A child process with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict, logs: Path):
        self.name, self.log = name, logs / f"{name}.log"
        with open(self.log, "ab") as out:
            out.write(f"\n=== start {' '.join(args)} ===\n".encode())
            self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                          preexec_fn=tied_to_this_process())

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Stack:
    def __init__(self, base: Path, postgres, redis):
        from sms.at_double import AtDoubleServer

        self.base, self.postgres, self.redis = base, postgres, redis
        self.logs = base / "logs"
        self.logs.mkdir(exist_ok=True)
        self.data_key = new_data_key()
        self.vault = Vault(SECRET_KEY, self.data_key)
        self.sim_port, self.web_port = free_port(), free_port()
        self.daraja = ChaosProxy("127.0.0.1", self.sim_port).start()
        self.hooks = ChaosProxy("127.0.0.1", self.web_port).start()
        self.at_double = AtDoubleServer({"api_key": "faults-at-key"}).start()
        at_port = int(self.at_double.base_url.rsplit(":", 1)[1])
        self.at = ChaosProxy("127.0.0.1", at_port).start()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.db = Database(postgres.url())
        self.env = self._environment()
        self.web = self.simulator = self.worker = None
        self.extra_workers: list[Process] = []
        self.sessions = 0

    def _environment(self) -> dict:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith((
            "MPESA_", "DATABASE_", "REDIS_", "AT_", "SMS_", "USSD_", "CALLBACK_", "PUBLIC_", "STK_", "B2C_",
            "RECONCILE_", "ORDERS_", "SECRET_", "DATA_KEY", "FLASK_"))}
        return {**inherited, "FLASK_APP": "app:create_app", "PYTHONUNBUFFERED": "1",
                "INSTANCE_PATH": str(self.base / "instance"),
                "DATABASE_URL": self.postgres.url(), "REDIS_URL": self.redis.url,
                "MPESA_BASE_URL": self.daraja.url, "MPESA_CONSUMER_KEY": "sim-key",
                "MPESA_CONSUMER_SECRET": "sim-secret", "MPESA_SHORTCODE": "174379",
                "MPESA_PASSKEY": "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
                "MPESA_B2C_SHORTCODE": "600000", "MPESA_INITIATOR_NAME": "testapi",
                "MPESA_SECURITY_CREDENTIAL": "simulated-credential",
                "PUBLIC_BASE_URL": self.hooks.url, "CALLBACK_TOKEN": CALLBACK_TOKEN,
                "USSD_PATH_TOKEN": USSD_TOKEN, "SECRET_KEY": SECRET_KEY, "DATA_KEY": self.data_key,
                "SMS_BACKEND": "africastalking", "AT_USERNAME": "zemi", "AT_API_KEY": "faults-at-key",
                "AT_SENDER_ID": "ZEMI", "AT_API_BASE_URL": self.at.url,
                "STK_DELAY_SECONDS": "0", "RECONCILE_EVERY_SECONDS": "1", "STK_QUERY_AFTER_SECONDS": "1",
                "B2C_QUERY_AFTER_SECONDS": "1", "B2C_RETRY_AFTER_SECONDS": "1", "B2C_STATUS_MAX_CHECKS": "2",
                "ORDERS_PER_HOUR": "1000", "STK_PUSHES_PER_HOUR": "1000", "USSD_RATE_LIMIT_PER_MINUTE": "1000"}

    # --- processes --------------------------------------------------------------------------
    def start(self) -> "Stack":
        self.flask("db", "upgrade").check_returncode()
        self.simulator = Process("simulator", [str(BIN / "flask"), "mpesa", "simulate", "--port",
                                               str(self.sim_port)], self.env, self.logs)
        self.web = Process("web", [str(BIN / "gunicorn"), "app:create_app()", "--bind",
                                   f"127.0.0.1:{self.web_port}", "--workers", "1", "--threads", "4",
                                   "--timeout", "60"], self.env, self.logs)
        wait_for(lambda: port_open(self.sim_port), 30, "the Daraja simulator to listen")
        wait_for(self._web_is_up, 60, "gunicorn to answer /health")
        return self

    def _web_is_up(self) -> bool:
        try:
            return requests.get(f"{self.web_url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def start_worker(self) -> Process:
        self.worker = Process("worker", [str(BIN / "flask"), "worker"], self.env, self.logs)
        return self.worker

    def another_worker(self) -> Process:
        worker = Process("worker2", [str(BIN / "flask"), "worker"], self.env, self.logs)
        self.extra_workers.append(worker)
        return worker

    def kill_worker(self, sig: int = signal.SIGKILL) -> None:
        self.worker.signal(sig)
        if sig == signal.SIGKILL:
            self.worker.popen.wait(10)

    def restart_worker(self) -> Process:
        """A new worker after the old one died. Its leases would expire after outbox.LEASE (60 s):
        they are expired now instead, which is what waiting would do."""
        self.expire_leases()
        return self.start_worker()

    def expire_leases(self) -> None:
        self.sql("UPDATE outbox SET leased_until = NULL WHERE status = 'pending'")

    def stop(self) -> None:
        for process in [self.worker, *self.extra_workers, self.web, self.simulator]:
            if process is not None:
                process.stop()
        for proxy in (self.daraja, self.hooks, self.at):
            proxy.clear()
        self.at_double.stop()
        self.db.dispose()

    def reset(self) -> None:
        """Between scenarios: no worker, empty tables, a fresh simulator, Redis and proxies."""
        for worker in [self.worker, *self.extra_workers]:
            if worker is not None:
                worker.kill()
        self.worker, self.extra_workers = None, []
        for proxy in (self.daraja, self.hooks, self.at):
            proxy.clear()
        if self.postgres_down():
            self.postgres.start()
        if self.redis.process is None:
            self.redis.start()
        self.sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        requests.post(f"{self.sim_url}/_sim/reset", timeout=5).raise_for_status()
        self.at_double.double.reset()
        self.redis_flush()

    def redis_flush(self) -> None:
        import redis
        client = redis.Redis.from_url(self.redis.url)
        client.flushdb()
        client.close()

    def postgres_down(self) -> bool:
        return not port_open(self.postgres.port)

    def diagnostics(self) -> str:
        parts = [f"--- {p.name} ---\n{p.tail()}" for p in [self.worker, self.web, self.simulator, *self.extra_workers]
                 if p is not None]
        return "\n".join(parts)

    # --- driving the service as its users do --------------------------------------------------
    def dial(self, phone: str, *inputs: str) -> list[str]:
        """One USSD session as Africa's Talking posts it; every reply must be a 200 CON/END screen."""
        self.sessions += 1
        session_id, typed, replies = f"ATUid_faults{self.sessions}_{time.monotonic_ns()}", [], []
        pending = list(inputs)
        while True:
            response = requests.post(f"{self.web_url}/ussd/{USSD_TOKEN}", data={
                "sessionId": session_id, "serviceCode": "*384*1234#", "phoneNumber": phone,
                "networkCode": "63902", "text": "*".join(typed)}, timeout=15)
            assert response.status_code == 200, f"USSD hop answered {response.status_code}: {response.text[:200]}"
            assert response.text.startswith(("CON ", "END ")), response.text
            replies.append(response.text)
            if response.text.startswith("END "):
                break
            if len(replies) == 1 and RESUME_PROMPT in response.text:
                pending.insert(0, "2")  # an earlier session broke off: start again, as this caller wants
            if not pending:
                break
            typed.append(pending.pop(0))
        return replies

    def place_order(self, buyer: str, seller_local: str, amount: int, item: str = "Kitenge") -> str:
        replies = self.dial(buyer, "1", seller_local, str(amount), item, "1")
        found = re.search(r"Order (\d{8})", replies[-1])
        assert found, f"no order reference in {replies[-1]!r}"
        return found.group(1)

    def confirm_delivery(self, seller: str, buyer: str, reference: str) -> None:
        code = self.delivery_code(buyer)
        replies = self.dial(seller, "4", code, "1")
        assert replies[-1].startswith("END "), replies

    def delivery_code(self, buyer: str) -> str:
        texts = self.texts_to(buyer)
        codes = re.findall(r"\b(\d{6})\b", " ".join(t for t in texts if "code" in t.lower()))
        assert codes, f"no delivery code among SMS to the buyer: {texts}"
        return codes[-1]

    def texts_to(self, phone: str) -> list[str]:
        rows = self.sql("SELECT body_sealed FROM sms_messages WHERE recipient_key = :k ORDER BY id",
                        k=self.vault.phone_key(phone))
        return [self.vault.unseal(row[0]) for row in rows]

    def flask(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "flask"), *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)

    # --- reading state --------------------------------------------------------------------------
    def sql(self, statement: str, **params) -> list:
        """The test's own reads and writes; once PostgreSQL has been restarted, a pooled connection
        from before may fail mid-statement: the pool is then dropped and the statement run again."""
        for attempt in (1, 2):
            try:
                with self.db.engine.begin() as connection:
                    result = connection.execute(text(statement), params)
                    return result.all() if result.returns_rows else []
            except OperationalError:
                if attempt == 2:
                    raise
                self.db.engine.dispose()

    def order_state(self, reference: str) -> str | None:
        rows = self.sql("SELECT state FROM orders WHERE reference = :r", r=reference)
        return rows[0][0] if rows else None

    def wait_for_state(self, reference: str, *states: str, timeout: float = SETTLE) -> str:
        try:
            return wait_for(lambda: self.order_state(reference) in states and self.order_state(reference),
                            timeout, f"order {reference} to reach {'/'.join(states)}", interval=0.2)
        except AssertionError as error:
            raise AssertionError(f"{error}; it is {self.order_state(reference)!r}\n{self.report(reference)}") from None

    def report(self, reference: str) -> str:
        shown = self.flask("orders", "show", reference)
        reviews = self.flask("callbacks", "list", "--review")
        findings = self.findings()
        return (f"orders show:\n{shown.stdout}{shown.stderr}\ncallbacks list --review:\n{reviews.stdout}"
                f"\nfindings: {findings}\n{self.diagnostics()}")

    def findings(self) -> list[dict]:
        return [json.loads(body) for (body,) in self.sql(
            "SELECT body FROM inbound_callbacks WHERE source = 'finding' AND status = 'open' ORDER BY id")]

    def stored_callbacks(self, source: str) -> list[tuple]:
        return self.sql("SELECT id, status FROM inbound_callbacks WHERE source = :s ORDER BY id", s=source)

    def sim_requests(self, path: str | None = None) -> list[dict]:
        answer = requests.get(f"{self.sim_url}/_sim/requests", timeout=5).json()
        return [r for r in answer if path is None or r["path"].startswith(path)]

    def sim_callbacks(self, path_part: str = "") -> list[dict]:
        return [c for c in requests.get(f"{self.sim_url}/_sim/callbacks", timeout=5).json() if path_part in c["url"]]

    def set_scenario(self, phone: str, scenario: str, times: int | None = None) -> None:
        requests.post(f"{self.sim_url}/_sim/scenario", json={"phone": phone, "scenario": scenario, "times": times},
                      timeout=5).raise_for_status()

    def stk_requests_for(self, reference: str) -> list[dict]:
        return [r for r in self.sim_requests(STK_PATH) if (r["json"] or {}).get("AccountReference") == reference]

    def b2c_requests_for(self, reference: str) -> list[dict]:
        return [r for r in self.sim_requests(B2C_PATH) if reference in str((r["json"] or {}).get("Remarks"))]
