"""The pay page in a real headless Chromium, end to end against the Daraja simulator: an open link
paid by whoever types their number, a named request in Kiswahili, and a seller's request made on USSD
paid from the link in the buyer's SMS (the seller's copy of it answers nothing); the form's cookie-bound token rides along; the code never shows."""
import re

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_api_journey import Shop, verify
from tests.e2e.test_journey import settle

BUYER, SELLER = "0712345678", "0722000111"


def click_and_wait(browser, element_id: str) -> None:
    """Click, then wait for the next page to replace this one (a form post and its redirect) and finish
    loading. The old page is marked in its window; a new document has no mark. (Waiting for the old
    node to go stale failed now and then: mid-navigation chromedriver may answer "Node with given id
    does not belong to the document", an error staleness_of does not expect.)"""
    browser.execute_script("window.zemiOldPage = true;")
    browser.find_element(By.ID, element_id).click()
    WebDriverWait(browser, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda driver: driver.execute_script("return !window.zemiOldPage && document.readyState === 'complete';"))


def shop_with_seller(live) -> tuple[Shop, str]:
    key = live.cli("apikeys", "create", "shop", "--scopes",
                   "verifications,orders:read,orders:write,payment_links").stdout.strip().splitlines()[0]
    shop = Shop(live.base_url, key)
    return shop, verify(live, shop, SELLER)


def buyers_link(live) -> str:
    return re.search(r"http://\S+/p/[A-Za-z0-9_-]{22}", live.texts_to(BUYER)[-1]).group(0)


def test_a_buyer_pays_an_open_link_and_sees_the_code_went_by_sms(browser, live, simulator):
    shop, seller = shop_with_seller(live)
    url = shop.post("/v1/payment-requests", {"amount": 2500, "item": "Leather bag"}, token=seller).json()["url"]
    browser.get(url + "?lang=en")
    assert browser.find_element(By.ID, "item").text == "Leather bag"
    assert browser.find_element(By.ID, "charge").text == "KES 2,500"
    assert "0722***111" in browser.page_source and "<script" not in browser.page_source
    assert len(browser.page_source) < 8000                       # a slow connection's page
    browser.find_element(By.ID, "phone").send_keys(BUYER)
    click_and_wait(browser, "pay")
    assert "A prompt was sent to 0712***678" in browser.find_element(By.ID, "status").text
    settle(live, simulator)
    click_and_wait(browser, "refresh")
    status = browser.find_element(By.ID, "status").text
    code = live.delivery_code("+254712345678")
    assert "Paid. KES 2,500 is held by Zemi" in status and "went by SMS to 0712***678" in status
    assert code not in browser.page_source


def test_a_named_buyer_pays_a_request_in_kiswahili(browser, live, simulator):
    shop, seller = shop_with_seller(live)
    made = shop.post("/v1/payment-requests", {"amount": 1200, "item": "Viatu", "buyer_phone": BUYER}, token=seller)
    assert made.status_code == 201 and made.json()["open"] is False
    browser.get(buyers_link(live) + "?lang=sw")                    # the link that came to the buyer's phone
    assert "Tutatuma ombi la M-Pesa kwa 0712***678" in browser.find_element(By.ID, "status").text
    assert not browser.find_elements(By.ID, "phone")             # the request names its buyer
    click_and_wait(browser, "pay")
    assert "Ombi limetumwa kwa 0712***678" in browser.find_element(By.ID, "status").text
    settle(live, simulator)
    click_and_wait(browser, "refresh")
    assert "Umelipa" in browser.find_element(By.ID, "status").text


def test_a_named_buyer_declines_and_no_prompt_is_sent(browser, live, simulator):
    shop, seller = shop_with_seller(live)
    assert shop.post("/v1/payment-requests", {"amount": 700, "item": "Kofia", "buyer_phone": BUYER},
                     token=seller).status_code == 201
    browser.get(buyers_link(live) + "?lang=en")
    click_and_wait(browser, "decline")
    assert "You declined this request" in browser.find_element(By.ID, "status").text
    settle(live, simulator)
    assert simulator.requests_received("/mpesa/stkpush/v1/processrequest") == []


def test_a_buyer_pays_a_sellers_ussd_request_from_the_link_in_their_sms(browser, live, simulator):
    replies = live.dial(SELLER, "2", BUYER, "1800", "Radio", "1")
    assert "sent" in replies[-1]
    url = buyers_link(live)
    sellers_copy = re.search(r"http://\S+/p/[A-Za-z0-9_-]{22}", live.texts_to(SELLER)[-1]).group(0)
    assert sellers_copy != url                                    # the seller's copy answers nothing
    browser.get(sellers_copy + "?lang=en")
    assert "Only the buyer, 0712***678, can accept" in browser.find_element(By.ID, "status").text
    assert not browser.find_elements(By.ID, "pay")
    browser.get(url + "?lang=en")
    assert browser.find_element(By.ID, "item").text == "Radio"
    assert "We will send the M-Pesa prompt to 0712***678" in browser.find_element(By.ID, "status").text
    assert browser.get_cookie("zemi_pay") and browser.find_element(By.NAME, "csrf").get_attribute("value")
    click_and_wait(browser, "pay")
    assert "A prompt was sent to 0712***678" in browser.find_element(By.ID, "status").text
    settle(live, simulator)
    click_and_wait(browser, "refresh")
    assert "Paid. KES 1,800 is held by Zemi" in browser.find_element(By.ID, "status").text
    assert live.delivery_code("+254712345678") not in browser.page_source
