"""A feature phone in the terminal: dial the USSD service, answer its screens, read your SMS.

    python -m ussd.phone http://127.0.0.1:5000 +254711000111 '*384*1234#'

`run_phone` posts Africa's Talking's form fields to {base_url}/ussd, sends the accumulated
`text` after every answer, and between sessions prints the number's new SMS as returned by
the injected `sms_reader(number) -> list[str]`.
"""
import sys
import urllib.parse
import urllib.request
import uuid

NETWORK_CODE = "99999"   # AT's sandbox network


def dial_once(base_url: str, number: str, service_code: str, session_id: str, text: str,
              timeout: float = 15.0) -> str:
    """One hop: POST the form and return the body ("CON ..." / "END ...")."""
    form = urllib.parse.urlencode({"sessionId": session_id, "serviceCode": service_code,
                                   "phoneNumber": number, "networkCode": NETWORK_CODE, "text": text})
    request = urllib.request.Request(f"{base_url.rstrip('/')}/ussd", data=form.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode()


def run_session(post, read, write) -> str:
    """Dial once and keep answering until the service ENDs; returns the last screen."""
    session_id, answers = f"ATUid_{uuid.uuid4().hex}", []
    while True:
        body = post(session_id, "*".join(answers))
        write("\n" + body[4:] + "\n")
        if not body.startswith("CON "):
            return body
        answers.append(read("> "))


def run_phone(base_url: str, number: str, service_code: str, sms_reader, *, read=input, write=print,
              post=None) -> None:
    """Loop: show SMS not shown yet, then dial on Enter, check SMS again on 's', quit on 'q'.

    `sms_reader` returns every SMS the number has; the phone remembers how many it has shown."""
    post = post or (lambda session_id, text: dial_once(base_url, number, service_code, session_id, text))
    shown = 0
    while True:
        messages = sms_reader(number)
        for message in messages[shown:]:
            write(f"[SMS] {message}")
        shown = len(messages)
        choice = read(f"Enter to dial {service_code}, s to check SMS, q to quit: ").strip().lower()
        if choice == "q":
            return
        if choice == "s":
            continue
        try:
            run_session(post, read, write)
        except OSError as exc:
            write(f"[network error: {exc}]")


def main(argv: list[str]) -> None:
    base_url, number, code = (argv + ["http://127.0.0.1:5000", "+254711000111", "*384*1234#"][len(argv):])[:3]
    run_phone(base_url, number, code, sms_reader=lambda _number: [])


if __name__ == "__main__":
    main(sys.argv[1:])
