"""The virtual environment anysd runs in (it needs redis<5; Zemi pins redis 8), made on first use.

    .venv/bin/python -m bench.anysd_env          # make (or check) bench/.anysd-venv and print its python

bench/.anysd-venv is git-ignored (bench/.gitignore). It holds anysd 1.2.7 from PyPI with the newest
redis<5 anysd accepts, and the same Flask, Werkzeug and gunicorn versions as Zemi's requirements.txt,
so both apps are served alike. Made once; later runs only check that anysd imports.
"""
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("ANYSD_VENV", ROOT / "bench" / ".anysd-venv"))
ANYSD = "anysd==1.2.7"
ANYSD_REDIS = "redis==4.6.0"   # anysd 1.2.7 passes charset= to redis.Redis, which redis 5 removed


def _pinned(name: str) -> str:
    """`name==version` as Zemi's requirements.txt pins it."""
    text = (ROOT / "requirements.txt").read_text()
    found = re.search(rf"^{re.escape(name)}==([^\s#]+)", text, re.IGNORECASE | re.MULTILINE)
    if not found:
        raise RuntimeError(f"{name} is not pinned in requirements.txt")
    return f"{name}=={found.group(1)}"


def python() -> Path:
    return VENV / "bin" / "python"


def ready() -> bool:
    if not python().exists():
        return False
    probe = subprocess.run([str(python()), "-c", "import anysd.main, flask, gunicorn, redis; "
                            "assert redis.__version__.startswith('4.')"],
                           capture_output=True, env={**os.environ, "ANYSD_CONFIG_FILE": _probe_config()})
    return probe.returncode == 0


def _probe_config() -> str:
    path = VENV / "probe.yaml"
    if VENV.exists() and not path.exists():
        path.write_text("development:\n  redis:\n    host: 127.0.0.1\n    port: 6379\n    db: 0\n")
    return str(path)


def ensure(log=print) -> Path:
    """The venv's python, making the venv first if it is missing or broken. Raises RuntimeError
    with pip's last lines if anysd cannot be installed."""
    if ready():
        return python()
    log(f"  making {VENV} (anysd 1.2.7 from PyPI; once) ...")
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    packages = [ANYSD, ANYSD_REDIS, _pinned("Flask"), _pinned("Werkzeug"), _pinned("gunicorn")]
    done = subprocess.run([str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           *packages], capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise RuntimeError(f"pip could not install {' '.join(packages)}:\n{tail}")
    if not ready():
        raise RuntimeError(f"anysd does not import in {VENV}")
    return python()


def config_file(path: Path, redis_url: str) -> Path:
    """anysd's YAML configuration: the same Redis as Zemi's (host, port, db from the URL)."""
    from urllib.parse import urlparse

    url = urlparse(redis_url)
    db = int((url.path or "/0").lstrip("/") or 0)
    lines = ["development:", "  redis:", f"    host: {url.hostname or '127.0.0.1'}", f"    port: {url.port or 6379}",
             f"    db: {db}"]
    if url.password:
        lines.append(f"    password: {url.password}")
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    print(ensure())
