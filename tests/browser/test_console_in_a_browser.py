"""An operator's day in a real browser: enrol with TOTP, sign in, find a disputed order by the buyer's
number, preview and resolve a split with the code again, see the SMS queued and the audit entry; a forged
form is refused; a viewer cannot act."""
import re
import time

import pyotp
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as expected
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import screenshot
from tests.console.conftest import enrolment_code
from tests.e2e.test_operator_commands import disputed_order

PASSWORD = "a long enough passphrase"


def enrol(browser, live, name: str, role: str) -> str | None:
    """`flask operators add`, then the enrolment page; returns the TOTP secret (None for a viewer)."""
    printed = live.cli("operators", "add", name, "--role", role).output
    browser.get(f"{live.base_url}/console/enrol")          # the code is typed, never put in a URL
    browser.find_element(By.ID, "token").send_keys(enrolment_code(printed))
    browser.find_element(By.ID, "next").click()
    secret = None
    if role != "viewer":
        uri = browser.find_element(By.ID, "otpauth").text
        secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
        assert browser.find_element(By.CSS_SELECTOR, ".qr svg")
        screenshot(browser, "enrol")
        browser.find_element(By.ID, "code").send_keys(code(secret, -1))
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "again").send_keys(PASSWORD)
    browser.find_element(By.ID, "enrol").click()
    assert shown(browser, "Enrolment done")
    return secret


def sign_in(browser, name: str, secret: str | None) -> None:
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    if secret:
        browser.find_element(By.ID, "code").send_keys(code(secret, 0))
    browser.find_element(By.ID, "sign-in").click()
    assert browser.find_element(By.ID, "whoami").text.startswith(name)


def shown(browser, words: str) -> bool:
    """The page the last click led to says `words` (waits for it to load, up to the implicit wait)."""
    return bool(browser.find_elements(By.XPATH, f"//main[contains(., '{words}')]"))


def code(secret: str, steps_ahead: int) -> str:
    """The code `steps_ahead` 30 s steps from now, never within 4 s of a step's end (the server accepts
    one step of drift, so a code typed just before the boundary could be two steps off when checked)."""
    if time.time() % 30 > 26:
        time.sleep(30.2 - time.time() % 30)
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def test_an_agent_enrols_finds_a_dispute_by_the_buyers_number_and_splits_it(browser, live, simulator):
    reference = disputed_order(live, simulator)
    secret = enrol(browser, live, "alice", "agent")
    sign_in(browser, "alice", secret)
    screenshot(browser, "overview")
    browser.find_element(By.LINK_TEXT, "Orders").click()
    browser.find_element(By.ID, "q").send_keys("0712 345 678")
    browser.find_element(By.ID, "search").click()
    WebDriverWait(browser, 20).until(expected.url_contains("party="))
    assert "0712345678" not in browser.current_url and "254712345678" not in browser.current_url
    screenshot(browser, "orders")
    browser.find_element(By.LINK_TEXT, reference).click()
    assert browser.find_element(By.ID, "buyer").text == "0712***678"

    browser.execute_script("document.querySelector('form[action$=\"/note\"] input[name=csrf]').value = 'forged'")
    browser.find_element(By.ID, "dispute-note").send_keys("called the buyer")
    browser.find_element(By.ID, "dispute-note").submit()
    assert shown(browser, "did not come from the console")
    browser.get(f"{live.base_url}/console/orders/{reference}")

    browser.find_element(By.ID, "outcome-split").click()
    browser.find_element(By.ID, "to-seller-input").send_keys("1000")
    browser.find_element(By.ID, "resolve-note").send_keys("half the order arrived")
    browser.find_element(By.ID, "preview-button").click()
    assert browser.find_element(By.ID, "to-seller").text == "KES 978"   # the core's split: 1,000 less the fee
    assert browser.find_element(By.ID, "to-buyer").text == "KES 500"
    screenshot(browser, "dispute-preview")
    browser.find_element(By.ID, "confirm-code").send_keys(code(secret, 1))
    browser.find_element(By.ID, "confirm").click()
    assert "The dispute is resolved" in browser.find_element(By.ID, "message").text
    assert browser.find_element(By.ID, "order-state").text == "settling"
    sms = browser.find_element(By.ID, "sms").text
    assert sms.count("dispute_split") == 2 and "queued" in sms
    assert "operator alice" in browser.find_element(By.ID, "timeline").text
    screenshot(browser, "order")
    browser.find_element(By.LINK_TEXT, "Audit log").click()
    first = browser.find_element(By.CSS_SELECTOR, "#audit tr:nth-child(2)").text
    assert "alice" in first and "dispute split" in first and reference in first and "half the order arrived" in first
    screenshot(browser, "audit")


def test_a_viewer_reads_masked_and_cannot_act(browser, live, simulator):
    reference = disputed_order(live, simulator)
    enrol(browser, live, "vera", "viewer")
    sign_in(browser, "vera", None)
    browser.get(f"{live.base_url}/console/orders/{reference}")
    page = browser.page_source
    assert "0712***678" in page and "254712345678" not in page
    assert not browser.find_elements(By.ID, "preview-button") and not browser.find_elements(By.ID, "reveal")
    browser.get(f"{live.base_url}/console/operators")
    assert "cannot manage operators" in browser.page_source


def test_a_large_refund_needs_a_second_agents_approval(browser, live, simulator):
    reference = disputed_order(live, simulator, price="60000")   # above CONSOLE_APPROVAL_ABOVE (50,000)
    alice = enrol(browser, live, "alice", "agent")
    sign_in(browser, "alice", alice)
    browser.get(f"{live.base_url}/console/orders/{reference}")
    browser.find_element(By.ID, "outcome-refund").click()
    browser.find_element(By.ID, "resolve-note").send_keys("never delivered")
    browser.find_element(By.ID, "preview-button").click()
    assert "a second agent must approve it" in browser.find_element(By.ID, "preview").text
    browser.find_element(By.ID, "confirm-code").send_keys(code(alice, 1))
    browser.find_element(By.ID, "confirm").click()
    assert "waits for a second agent" in browser.find_element(By.ID, "message").text
    assert browser.find_element(By.ID, "order-state").text == "disputed" and not browser.find_elements(By.ID, "approve")
    browser.find_element(By.CSS_SELECTOR, "header form button").click()          # sign out

    bob = enrol(browser, live, "bob", "agent")
    sign_in(browser, "bob", bob)
    browser.get(f"{live.base_url}/console/orders/{reference}")
    assert "alice" in browser.find_element(By.ID, "pending").text
    screenshot(browser, "approval")
    browser.find_element(By.ID, "approve-code").send_keys(code(bob, 1))
    browser.find_element(By.ID, "approve").click()
    WebDriverWait(browser, 20).until(expected.text_to_be_present_in_element((By.ID, "order-state"), "refunding"))
    assert "operator bob" in browser.find_element(By.ID, "timeline").text
