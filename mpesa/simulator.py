"""A local Daraja double: the same paths, field names, value types and quirks, plus scenarios.

    python -m mpesa.simulator --host 127.0.0.1 --port 8001

Control API (not Daraja): POST /_sim/scenario {"phone", "scenario", "times"?}, GET /_sim/requests,
GET /_sim/callbacks, POST /_sim/paybill {"phone", "amount", "account"}, POST /_sim/revoke_tokens,
POST /_sim/reset; the phone simulator page's /_sim/phones/... (mpesa/simulator_phones.py). Defaults: consumer "sim-key"/"sim-secret", shortcode 174379 with the sandbox
passkey, any numeric B2C shortcode (or config "b2c_shortcode"), initiator "testapi".
"""
import argparse
import logging
import threading
import time

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from escrow.errors import EscrowError
from mpesa.simulator_scenarios import SCENARIOS, envelope
from mpesa.simulator_state import Simulator
from mpesa.simulator_balance import register_balance_routes
from mpesa.simulator_statement import register_statement_routes
from mpesa.simulator_reversal import register_reversal_routes
from mpesa.simulator_phones import register_phone_routes

EXTENSION = "daraja_simulator"
STK_TOKEN_ERROR = ("404.001.03", "Invalid Access Token")
API_TOKEN_ERROR = ("400.003.01", "Invalid Access Token")


def create_simulator(config: dict | None = None) -> Flask:
    """The simulator as a Flask app; its state is `app.extensions["daraja_simulator"]`."""
    app = Flask(__name__)
    app.json.sort_keys = False
    sim = Simulator(config)
    app.extensions[EXTENSION] = sim
    _register_daraja_routes(app, sim)
    _register_control_routes(app, sim)
    register_statement_routes(app, sim, _api)
    register_balance_routes(app, sim, _api)
    register_reversal_routes(app, sim, _api)
    register_phone_routes(app, sim)
    return app


def _reply(result: tuple[dict, int]):
    body, status = result
    return jsonify(body), status


def _body() -> dict | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _api(sim: Simulator, handler, token_error=API_TOKEN_ERROR, bad_body="400.002.05"):
    """Token check, then JSON check, then the handler: Daraja's order."""
    if not sim.token_is_valid(request.headers.get("Authorization")):
        return _reply(envelope(*token_error))
    body = _body()
    if body is None:
        message = ("Bad Request - Invalid BusinessShortCode" if bad_body == "400.002.02"
                   else "Invalid request payload")
        return _reply(envelope(bad_body, message))
    return _reply(handler(body))


def _register_daraja_routes(app: Flask, sim: Simulator) -> None:
    @app.before_request
    def remember_request():
        if not request.path.startswith("/_sim"):
            sim.record({"method": request.method, "path": request.path,
                        "args": request.args.to_dict(), "headers": dict(request.headers),
                        "json": request.get_json(silent=True), "at": time.time()})

    @app.get("/oauth/v1/generate")
    def oauth():
        if request.args.get("grant_type") != "client_credentials":
            return _reply(envelope("400.008.02", "Invalid grant type passed"))
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return _reply(envelope("400.008.01", "Invalid Authentication passed"))
        return _reply(sim.issue_token((auth.username, auth.password)))

    @app.post("/mpesa/stkpush/v1/processrequest")
    def stk_push():
        return _api(sim, sim.stk_push, STK_TOKEN_ERROR, bad_body="400.002.02")

    @app.post("/mpesa/stkpushquery/<version>/query")
    def stk_query(version):
        return _api(sim, sim.stk_query, STK_TOKEN_ERROR, bad_body="400.002.02")

    @app.post("/mpesa/b2c/<version>/paymentrequest")
    def b2c(version):
        return _api(sim, lambda body: sim.b2c(body, version))

    @app.post("/mpesa/transactionstatus/v1/query")
    def transaction_status():
        return _api(sim, sim.transaction_status)

    @app.post("/mpesa/c2b/<version>/registerurl")
    def c2b_register(version):
        return _api(sim, lambda body: sim.register_urls(body, version))

    @app.post("/mpesa/c2b/<version>/simulate")
    def c2b_simulate(version):
        return _api(sim, sim.c2b_simulate)

    @app.errorhandler(404)
    def not_found(_error):
        return _reply(envelope("404.001.01", "Resource not found"))

    @app.errorhandler(405)
    def wrong_method(_error):
        return _reply(envelope("405.001", "Method Not Allowed"))


def _register_control_routes(app: Flask, sim: Simulator) -> None:
    @app.post("/_sim/scenario")
    def set_scenario():
        body = _body() or {}
        if body.get("scenario") not in SCENARIOS:
            return jsonify({"error": f"scenario must be one of {sorted(SCENARIOS)}"}), 400
        try:
            sim.set_scenario(body.get("phone"), body["scenario"], body.get("times"))
        except EscrowError as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify({"ok": True})

    @app.get("/_sim/requests")
    def received():
        return jsonify(sim.requests_received(request.args.get("path")))

    @app.get("/_sim/callbacks")
    def callbacks():
        return jsonify(list(sim.dispatcher.deliveries))

    @app.post("/_sim/paybill")
    def paybill():
        body = _body() or {}
        try:
            trans_id = sim.pay_bill(body["phone"], int(body["amount"]), body.get("account"),
                                    body.get("shortcode"))
        except (KeyError, TypeError, ValueError, EscrowError) as exc:
            return jsonify({"error": f"need phone, amount and account: {exc}"}), 400
        return jsonify({"TransID": trans_id})

    @app.post("/_sim/revoke_tokens")
    def revoke_tokens():
        sim.revoke_tokens()
        return jsonify({"ok": True})

    @app.post("/_sim/reset")
    def reset():
        sim.reset()
        return jsonify({"ok": True})


class SimulatorServer:
    """The simulator on a real socket in a background thread (port 0 picks a free port)."""

    def __init__(self, config: dict | None = None, host: str = "127.0.0.1", port: int = 0):
        self.app = create_simulator(config)
        self.simulator: Simulator = self.app.extensions[EXTENSION]
        self._host, self._port = host, port
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> "SimulatorServer":
        self._server = make_server(self._host, self._port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="daraja-simulator")
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self._host}:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
        self.simulator.dispatcher.stop()

    def drain(self, timeout: float = 10) -> bool:
        """Wait until every scheduled callback has been delivered; False on timeout."""
        return self.simulator.dispatcher.drain(timeout)

    def set_scenario(self, phone: str, name: str, times: int | None = None) -> None:
        self.simulator.set_scenario(phone, name, times)

    def requests_received(self, path: str | None = None) -> list[dict]:
        return self.simulator.requests_received(path)

    def callbacks_delivered(self) -> list[dict]:
        return list(self.simulator.dispatcher.deliveries)

    def pay_bill(self, phone: str, amount: int, account: str | None,
                 shortcode: str | None = None) -> str:
        return self.simulator.pay_bill(phone, amount, account, shortcode)

    def revoke_tokens(self) -> None:
        self.simulator.revoke_tokens()

    def reset(self) -> None:
        self.simulator.reset()

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local M-Pesa Daraja simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--callback-delay", type=float, default=0.3)
    parser.add_argument("--late-delay", type=float, default=3.0)
    parser.add_argument("--default-scenario", default="success", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    server = SimulatorServer({"callback_delay": args.callback_delay, "late_delay": args.late_delay,
                              "default_scenario": args.default_scenario}, args.host, args.port)
    server.start()
    print(f"Daraja simulator on {server.base_url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
