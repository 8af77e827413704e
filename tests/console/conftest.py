"""The console on the live service (tests/e2e/conftest.py), with operators signed in through its forms."""
import re
import time

import pyotp
import pytest

from console import Accounts, ConsoleSettings
from escrow.audit import Actor
from tests.e2e.conftest import live, simulator  # noqa: F401 -- fixtures reused here

PASSWORD = "correct horse battery"
SETUP = Actor("setup", "admin", "test")


class Operators:
    """Creates and enrols operators the way `flask operators add` and the enrolment page do."""

    def __init__(self, live):  # noqa: F811
        self.live = live
        zemi = live.zemi
        self.accounts = Accounts(zemi.db, zemi.core.vault, ConsoleSettings.from_mapping(zemi.settings))
        self.secrets = {}

    def enrolled(self, name: str, role: str) -> str:
        enrolment = self.accounts.add(name, role, by=SETUP)
        operator, uri = self.accounts.pending_enrolment(enrolment.token)
        secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1) if uri else None
        self.secrets[name] = secret
        self.accounts.enrol(enrolment.token, PASSWORD, PASSWORD, code_for(secret, -1) if secret else "", "test")
        return name

    def client(self, name: str):
        """A test client signed in as `name`: enrolment used the last 30 s step's code, sign-in uses the
        current one, a step-up the next one (each step is accepted once, with one step of drift)."""
        client = self.live.app.test_client()
        secret = self.secrets.get(name)
        response = post_form(client, "/console/login", {"name": name, "password": PASSWORD,
                                                         "code": code_for(secret, 0) if secret else ""})
        assert response.status_code == 302, response.get_data(as_text=True)
        client.operator_name = name
        return client

    def step_up_code(self, name: str, ahead: int = 1) -> str:
        return code_for(self.secrets[name], ahead)


def enrolment_code(printed: str) -> str:
    """The one-time code in `flask operators add`'s output (alone on the last line, or ending a link)."""
    last = printed.strip().splitlines()[-1].strip()
    return last.rsplit("/console/enrol/", 1)[-1]


def code_for(secret: str, steps_ahead: int) -> str:
    """The code `steps_ahead` 30 s steps from now, never within 4 s of a step's end (the server accepts
    one step of drift, so a code typed just before the boundary could be two steps off when checked)."""
    if time.time() % 30 > 26:
        time.sleep(30.2 - time.time() % 30)
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def csrf_of(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def post_form(client, url: str, form: dict, *, from_page: str | None = None):
    """POST `form` with the CSRF token of the page it sits on (the sign-in page before sign-in)."""
    token = csrf_of(client, from_page or ("/console/login" if url == "/console/login" else "/console/"))
    return client.post(url, data={**form, "csrf": token})


@pytest.fixture
def operators(live):  # noqa: F811
    return Operators(live)
