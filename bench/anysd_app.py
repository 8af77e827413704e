"""The same "pay a seller" conversation written with anysd 1.2.7, for bench/ussd.py to compare against.

Runs only in the benchmark's own virtual environment (bench/anysd_env.py makes it: anysd needs
redis<5), under the same gunicorn settings as Zemi, on the same Redis (another key space: anysd keys
its sessions "<msisdn>:<sessionId>"). anysd reads its Redis connection from a YAML file named by
ANYSD_CONFIG_FILE (the benchmark writes one from its --redis-url):

    ANYSD_CONFIG_FILE=/tmp/anysd.yaml bench/.anysd-venv/bin/python -m gunicorn 'bench.anysd_app:create_app()'

It takes AT's form at POST /ussd (sessionId, phoneNumber, text) like Zemi, shows the same screens
(Home, the seller's number, the amount, the item, the summary with Confirm/Cancel) with the same
checks on each answer (a Kenyan mobile number, an amount from 50 to 250,000, an item of at most 20
characters, 1 or 2), and ends with "END Order <number> created ..." or "END Cancelled ...". Its
confirm writes nothing (no database): that difference is the point of Zemi's pay-confirm figure.
"""
import itertools
import re

from flask import Flask, Response, request

HOME_TITLE = "Zemi Escrow"
LOCAL_MOBILE = re.compile(r"^(?:0|\+?254)?(7\d{8}|1\d{8})$")
_order_numbers = itertools.count(10_000_000)


def _validator(step, last_input, **_kwargs):
    """anysd's per-step check: (valid, extra state)."""
    answer = (last_input or "").strip()
    if step == 1:
        return bool(LOCAL_MOBILE.match(answer)), None
    if step == 2:
        return answer.isdigit() and 50 <= int(answer) <= 250_000, None
    if step == 3:
        return 0 < len(answer) <= 20, None
    if step == 4:
        return answer in ("1", "2"), None
    return True, None


def _summary(data=None, **_kwargs):
    data = data or {}
    price = int(data.get("AMOUNT") or 0)
    fee = max(10, price // 50)
    return (f"CON Pay {data.get('SELLER')}\nItem: {data.get('ITEM')}\nPrice: KES {price:,}\n"
            f"Fee: KES {fee:,} (seller pays)\nYou pay: KES {price:,}\n1 Confirm\n2 Cancel\n0 Back")


def _done(data=None, **_kwargs):
    data = data or {}
    if (data.get("DONE") or "").strip() != "1":
        return "END Cancelled. Nothing was charged."
    price = int(data.get("AMOUNT") or 0)
    return (f"END Order {next(_order_numbers)} created. You will receive an M-Pesa prompt for KES {price:,}. "
            "Enter your PIN to pay.")


def build_menu():
    from anysd import FormFlow, NavigationMenu

    questions = {
        "1": {"name": "SELLER", "menu": "CON Enter the seller's M-Pesa number\n0 Back 00 Home"},
        "2": {"name": "AMOUNT", "menu": "CON Enter the amount in KES\n(KES 50 to KES 250,000)\n0 Back 00 Home"},
        "3": {"name": "ITEM", "menu": "CON What are you buying?\n(short, up to 20 letters)\n0 Back 00 Home"},
        "4": {"name": "CONFIRM", "menu": _summary},
        "5": {"name": "DONE", "menu": _done},
    }
    home = NavigationMenu(name="home", title=HOME_TITLE, show_title=True)
    NavigationMenu(name="pay", title="Pay a seller", parent=home, next_form=FormFlow(questions, _validator))
    for title in ("Request a payment", "My orders", "Enter delivery code", "Language", "Help"):
        NavigationMenu(name=title.lower().replace(" ", "_"), title=title, parent=home,
                       next_form=FormFlow({"1": {"name": "X", "menu": "END Not in this benchmark"}}, _validator))
    return home


def create_app() -> Flask:
    from anysd import NavigationController

    home = build_menu()
    app = Flask(__name__)

    @app.post("/ussd")
    def session():
        form = request.form
        navigator = NavigationController(home, str(form.get("phoneNumber", "")), str(form.get("sessionId", "")),
                                         str(form.get("text", "") or ""))
        return Response(navigator.navigate(), mimetype="text/plain")

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app
