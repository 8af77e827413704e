"""A webhook receiver on 127.0.0.1 (a real HTTP server): records each request; answers the queued
status codes first, then 204."""
import threading

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class WebhookReceiver:
    def __init__(self):
        self.received: list[dict] = []
        self.answers: list[int] = []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _app(self, environ, start_response):
        request = Request(environ)
        self.received.append({"headers": dict(request.headers), "body": request.get_data(as_text=True)})
        status = self.answers.pop(0) if self.answers else 204
        return Response(status=status)(environ, start_response)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()

    def types(self) -> list[str]:
        import json
        return [json.loads(item["body"])["type"] for item in self.received]
