"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, for any page
the service serves: the operator console now, later the pay page and the phone simulator.

Fixtures: `browser` (a fresh profile per test, its own WebDriver) and `live` (tests/e2e/conftest.py).
Without a browser the tests skip, and the run's summary says so in a line of its own;
CI_REQUIRE_BROWSER=1 (set by .ci/run) turns that skip into a failure."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.e2e.conftest import live, simulator  # noqa: F401 -- fixtures reused by the browser tests

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--window-size=1280,1000")
_skipped = []


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real headless Chromium (tests/browser; CI: once)")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_line(f"BROWSER TESTS SKIPPED ({len(_skipped)}): {_skipped[0]}", yellow=True, bold=True)


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, from CHROMIUM_BIN / CHROMEDRIVER_BIN or the PATH."""
    chromium = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


@pytest.fixture
def browser():
    found = find_browser()
    if found is None:
        why = "no chromium/chromedriver on PATH (apt-get install chromium chromium-driver)"
        if os.environ.get("CI_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CI_REQUIRE_BROWSER=1 but {why}")
        _skipped.append(why)
        pytest.skip(why)
    os.environ.setdefault("SE_OFFLINE", "true")     # Selenium Manager must not fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="zemi-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=found[1]), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver, name: str) -> None:
    """docs/console/<name>.png for the README's operator's guide, when CONSOLE_SCREENSHOTS=1."""
    if os.environ.get("CONSOLE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
