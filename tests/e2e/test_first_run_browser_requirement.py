"""Issue 17's browser tests run in CI or CI fails: without Chromium they skip with a line of their own in
the summary, CI_REQUIRE_BROWSER=1 turns that skip into a failure, and `.ci/run` sets it on the pass that
runs the `browser` marker."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE_TEST = "tests/browser/test_phone_simulator.py::test_with_a_live_daraja_setting_the_page_is_not_served"


def run_without_chromium(**extra) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name not in ("CHROMIUM_BIN", "CHROMEDRIVER_BIN")}
    env.pop("CI_REQUIRE_BROWSER", None)
    env.update(PATH=str(Path(sys.executable).parent), **extra)     # no /usr/bin: no chromium, no chromedriver
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", PAGE_TEST], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def test_without_chromium_the_browser_tests_skip_and_say_so():
    run = run_without_chromium()
    assert run.returncode == 0, run.stdout[-2000:]
    assert re.search(r"BROWSER TESTS SKIPPED \(1\): no chromium/chromedriver on PATH \(apt-get install chromium "
                     r"chromium-driver\)", run.stdout)


def test_with_ci_require_browser_a_missing_chromium_fails_the_run():
    run = run_without_chromium(CI_REQUIRE_BROWSER="1")
    assert run.returncode != 0 and "CI_REQUIRE_BROWSER=1 but no chromium/chromedriver" in run.stdout


def test_ci_runs_the_browser_marker_once_and_requires_it_there():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r'PG_ONLY_MARKERS="[^"]*\bbrowser\b', ci)                  # left out of the first pass
    second_pass = ci.split("== 2/2", 1)[1]
    assert "CI_REQUIRE_BROWSER=1" in second_pass and "bin/test" in second_pass   # the whole suite, browser included
    assert re.search(r"chromium chromium-driver", ci)                             # installed when missing
    assert re.search(r"^selenium==", (ROOT / "requirements-dev.txt").read_text(), re.M)
