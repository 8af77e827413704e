"""The rest of an operator's day in a real browser: the alerts page, a finding read with its meaning and
resolved, a caller locked out for wrong codes unlocked, and an admin cancelling a paid order."""
from selenium.webdriver.common.by import By

from escrow.findings import record_finding
from tests.browser.conftest import screenshot
from tests.browser.test_console_in_a_browser import code, enrol, shown, sign_in
from tests.console.test_console_access import lock_caller
from tests.e2e.test_journey import BUYER, reference_in, settle


def test_an_admin_reads_alerts_resolves_a_finding_unlocks_a_caller_and_cancels_an_order(browser, live, simulator):
    reference = reference_in(live.dial(BUYER, "1", "0722000111", "1500", "Blue kitenge", "1")[-1])
    settle(live, simulator)
    with live.zemi.db.transaction() as session:
        record_finding(session, "payout-unknown:demo", order_id=None, summary="B2C transfer #7 (KES 1,478): "
                       "M-Pesa never said whether it was paid", originator_conversation_id="29115-3462-1")
    live.run_worker()                                      # the alert check runs with the worker's pass
    lock_caller(live, BUYER)
    secret = enrol(browser, live, "adam", "admin")
    sign_in(browser, "adam", secret)

    browser.find_element(By.LINK_TEXT, "Alerts").click()
    assert "money-finding" in browser.find_element(By.ID, "alerts").text
    assert "last pass" in browser.find_element(By.ID, "worker-heartbeat").text
    screenshot(browser, "alerts")

    browser.find_element(By.LINK_TEXT, "Findings").click()
    row = browser.find_element(By.ID, "findings").text
    assert "payout-unknown" in row and "never pay again before knowing" in row
    screenshot(browser, "findings")
    browser.find_element(By.CSS_SELECTOR, "#findings input[name=note]").send_keys("paid: receipt on the portal")
    browser.find_element(By.CSS_SELECTOR, "#findings button").click()
    assert shown(browser, "No findings")

    browser.find_element(By.LINK_TEXT, "Lockouts").click()
    assert "0712***678" in browser.find_element(By.ID, "locked-callers").text
    screenshot(browser, "lockouts")
    browser.find_element(By.CSS_SELECTOR, "#locked-callers input[name=reason]").send_keys("buyer called; mistyped")
    browser.find_element(By.CSS_SELECTOR, "#locked-callers button").click()
    assert shown(browser, "No number is locked out")

    browser.get(f"{live.base_url}/console/orders/{reference}")
    browser.find_element(By.ID, "cancel-reason").send_keys("seller closed the shop")
    browser.find_element(By.ID, "cancel-code").send_keys(code(secret, 1))
    screenshot(browser, "cancel")
    browser.find_element(By.ID, "cancel").click()
    assert "The order is cancelled" in browser.find_element(By.ID, "message").text
    assert browser.find_element(By.ID, "order-state").text == "refunding"
    assert "operator adam" in browser.find_element(By.ID, "timeline").text
    audit = browser.find_element(By.ID, "order-audit").text
    assert "order cancelled" in audit and "adam" in audit
