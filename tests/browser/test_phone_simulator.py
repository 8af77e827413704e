"""The phone simulator page in a real headless Chromium: a buyer buys, pays by entering the M-Pesa PIN
on their phone, receives the delivery code by SMS and the seller enters it and is paid; a prompt can be
cancelled, answered with a wrong PIN or left to time out, and the order paid by paybill instead; another
phone can be added; with a live setting the page is not served at all."""
import re
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_phone_simulator_api import embedded  # noqa: F401 -- the app on the embedded defaults

BUYER, SELLER = "0712345678", "0722000111"
WAIT = 30   # seconds a step may take on a loaded machine before the test gives up
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_first_screen() -> dict:
    """The steps the README's first screen gives a newcomer, read from it, so the test follows them."""
    text = re.search(r"`bin/serve` prints `http://127\.0\.0\.1:8000/phones`: open it\.(.*?)\n\n",
                     README.read_text(), re.S).group(1)
    buyer = re.search(r"On the buyer's phone dial `([^`]+)`, then (.*?)\. A moment later", text, re.S)
    prompt, pin = re.search(r'the phone shows\s+"([^"]+)": enter `(\d+)`', text).groups()
    release, confirm = re.search(r"On the seller's phone dial, then `(\d)`.*?the code, `(\d)`", text, re.S).groups()
    return {"dial": buyer.group(1), "answers": re.findall(r"`([^`]+)`", buyer.group(2)), "prompt": prompt,
            "pin": pin, "release": release, "confirm": confirm}


def phone(browser, number):
    return browser.find_element(By.CSS_SELECTOR, f'section.phone[data-number="{number}"]')


def send(browser, number, typed, keypad=False) -> str:
    """Type the entry (or press the keypad's keys), press Call/Send, wait for the answer; returns the screen."""
    handset = phone(browser, number)
    before = int(handset.get_attribute("data-hops") or 0)
    if keypad:
        for key in typed:
            handset.find_element(By.CSS_SELECTOR, f'.key[data-key="{key}"]').click()
    else:
        handset.find_element(By.CSS_SELECTOR, ".entry").send_keys(typed)
    handset.find_element(By.CSS_SELECTOR, ".send").click()
    WebDriverWait(browser, WAIT).until(lambda _: int(handset.get_attribute("data-hops") or 0) > before)
    return handset.find_element(By.CSS_SELECTOR, ".ussd").text


def inbox(browser, number) -> str:
    return phone(browser, number).find_element(By.CSS_SELECTOR, ".inbox").text


def wait_for_sms(browser, number, pattern) -> re.Match:
    return WebDriverWait(browser, WAIT).until(lambda _: re.search(pattern, inbox(browser, number)))


def delivery_code(browser, number, reference) -> str:
    """The 6-digit code in the SMS about this order (an inbox may hold older orders' messages)."""
    def found(_):
        for line in inbox(browser, number).splitlines():
            code = re.search(r"[Cc]ode\D{0,12}\b(\d{6})\b", line) if reference in line else None
            if code:        # not the paybill number a payment-failed SMS gives, nor the reference
                return code.group(1)
        return None
    return WebDriverWait(browser, WAIT).until(found)


def test_a_buyer_pays_with_a_pin_and_the_seller_is_released_the_money_through_both_phones(browser, embedded):
    """Exactly the README's first screen: its dialled code, answers, prompt, PIN and the seller's keys."""
    steps = readme_first_screen()
    assert steps["answers"][1] == SELLER and steps["prompt"] == "Pay KES 1,500 to ZEMI? Enter PIN"
    app, base_url = embedded
    browser.get(f"{base_url}/phones")
    assert {e.get_attribute("data-number") for e in browser.find_elements(By.CSS_SELECTOR, "section.phone")} == {
        BUYER, SELLER}

    menu = send(browser, BUYER, steps["dial"], keypad=True)
    notes = phone(browser, BUYER).find_element(By.CSS_SELECTOR, ".notes").text
    assert menu and re.search(r"CON · \d+/160 characters · GSM-7 · \d+ ms \(AT waits 10 s", notes)
    for answer in steps["answers"][:-1]:
        send(browser, BUYER, answer)
    ended = send(browser, BUYER, steps["answers"][-1])
    assert "END" in phone(browser, BUYER).find_element(By.CSS_SELECTOR, ".notes").text
    reference = re.search(r"Order (\d{8})", ended).group(1)

    prompt = phone(browser, BUYER).find_element(By.CSS_SELECTOR, ".prompt")
    WebDriverWait(browser, WAIT).until(lambda _: prompt.is_displayed())
    assert prompt.find_element(By.CSS_SELECTOR, ".prompt-text").text == steps["prompt"]
    assert reference in prompt.find_element(By.CSS_SELECTOR, ".prompt-account").text
    prompt.find_element(By.CSS_SELECTOR, ".pin").send_keys(steps["pin"])
    prompt.find_element(By.CSS_SELECTOR, ".pin-ok").click()
    WebDriverWait(browser, WAIT).until(lambda _: "ResultCode 0" in phone(browser, BUYER).find_element(
        By.CSS_SELECTOR, ".mpesa-result").text)

    code = delivery_code(browser, BUYER, reference)
    wait_for_sms(browser, SELLER, "Blue kitenge")
    send(browser, SELLER, steps["dial"])
    send(browser, SELLER, steps["release"])
    assert f"Order {reference}" in send(browser, SELLER, code)   # the release screen names the order
    assert send(browser, SELLER, steps["confirm"])
    wait_for_sms(browser, SELLER, r"1,478|1478")        # the payout's receipt: 1,500 less the 1.5% fee
    shown = app.test_cli_runner().invoke(args=["orders", "show", reference]).output
    assert shown.startswith(f"{reference} paid_out")


def test_a_prompt_can_be_cancelled_on_the_phone_and_the_order_paid_by_paybill_instead(browser, embedded):
    app, base_url = embedded
    browser.get(f"{base_url}/phones")
    send(browser, BUYER, "*384*1234#")
    for answer in ("1", SELLER, "700", "Shoes"):
        send(browser, BUYER, answer)
    reference = re.search(r"Order (\d{8})", send(browser, BUYER, "1")).group(1)
    prompt = phone(browser, BUYER).find_element(By.CSS_SELECTOR, ".prompt")
    WebDriverWait(browser, WAIT).until(lambda _: prompt.is_displayed())
    prompt.find_element(By.CSS_SELECTOR, ".pin-cancel").click()
    WebDriverWait(browser, WAIT).until(lambda _: "ResultCode 1032" in phone(browser, BUYER).find_element(
        By.CSS_SELECTOR, ".mpesa-result").text)
    shown = app.test_cli_runner().invoke(args=["orders", "show", reference]).output
    assert shown.startswith(reference) and "funded" not in shown.splitlines()[0]

    paybill = phone(browser, BUYER).find_element(By.CSS_SELECTOR, ".paybill")
    paybill.find_element(By.TAG_NAME, "summary").click()
    assert paybill.find_element(By.CSS_SELECTOR, ".pb-business").get_attribute("value") == "174379"
    paybill.find_element(By.CSS_SELECTOR, ".pb-account").send_keys(reference)
    paybill.find_element(By.CSS_SELECTOR, ".pb-amount").send_keys("700")
    paybill.find_element(By.CSS_SELECTOR, ".pb-pin").send_keys("1234")
    paybill.find_element(By.CSS_SELECTOR, ".pb-pay").click()
    WebDriverWait(browser, WAIT).until(lambda _: "Paid: M-Pesa receipt" in paybill.find_element(
        By.CSS_SELECTOR, ".pb-result").text)
    assert delivery_code(browser, BUYER, reference)               # funded by the paybill: the code arrives
    assert app.test_cli_runner().invoke(args=["orders", "show", reference]).output.startswith(f"{reference} funded")


def buy(browser, amount, item) -> str:
    send(browser, BUYER, "*384*1234#")
    for answer in ("1", SELLER, amount, item):
        send(browser, BUYER, answer)
    return re.search(r"Order (\d{8})", send(browser, BUYER, "1")).group(1)


def mpesa_result(browser, number, pattern) -> re.Match:
    return WebDriverWait(browser, WAIT).until(lambda _: re.search(pattern, phone(browser, number).find_element(
        By.CSS_SELECTOR, ".mpesa-result").text))


def test_a_wrong_pin_and_a_prompt_left_alone_are_shown_on_the_phone_and_told_by_sms(browser, embedded, simulator):
    app, base_url = embedded
    simulator.simulator.config["prompt_seconds"] = 3          # M-Pesa's prompt waits 60 s; the test, 3
    browser.get(f"{base_url}/phones")

    wrong = buy(browser, "200", "Cup")
    prompt = phone(browser, BUYER).find_element(By.CSS_SELECTOR, ".prompt")
    WebDriverWait(browser, WAIT).until(lambda _: prompt.is_displayed())
    prompt.find_element(By.CSS_SELECTOR, ".pin").send_keys("9999")
    prompt.find_element(By.CSS_SELECTOR, ".pin-ok").click()
    mpesa_result(browser, BUYER, r"ResultCode 2001")
    wait_for_sms(browser, BUYER, rf"Order {wrong} not paid: the M-Pesa PIN was wrong")

    left_alone = buy(browser, "300", "Pot")
    WebDriverWait(browser, WAIT).until(lambda _: prompt.is_displayed())
    assert "Times out in" in prompt.text
    mpesa_result(browser, BUYER, r"No PIN in time.*ResultCode 1037")       # nobody answered
    assert not prompt.is_displayed()
    wait_for_sms(browser, BUYER, rf"Order {left_alone} not paid: your phone could not be reached")
    for reference in (wrong, left_alone):
        assert app.test_cli_runner().invoke(args=["orders", "show", reference]).output.startswith(
            f"{reference} awaiting_payment")


def test_another_phone_can_be_added_and_dial_a_shortcut(browser, embedded):
    _app, base_url = embedded
    browser.get(f"{base_url}/phones")
    browser.find_element(By.ID, "new-number").send_keys("0733000222")
    browser.find_element(By.ID, "add").click()
    WebDriverWait(browser, WAIT).until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "section.phone")) == 3)
    assert "Enter the 6-digit delivery code" in send(browser, "0733000222", "*384*1234*4#")


def test_with_a_live_daraja_setting_the_page_is_not_served(browser, live):
    browser.get(f"{live.base_url}/phones")
    assert "Zemi phone simulator" not in browser.page_source
    assert not browser.find_elements(By.CSS_SELECTOR, "section.phone")
    assert not browser.find_elements(By.ID, "phone-template")
