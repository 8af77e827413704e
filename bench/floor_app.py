"""The floor for bench/ussd.py: a bare Flask app whose one endpoint does one Redis GET and one SET.

It takes the same AT-format form as POST /ussd and answers text/plain, so the HTTP work on both sides
(form parsing, a Redis round trip or two, a small reply) is alike; everything else Zemi does on a hop
is what the benchmark's ratio prices. Served by the same gunicorn settings as the real app:

    REDIS_URL=redis://127.0.0.1:6379/13 gunicorn 'bench.floor_app:create_app()'
"""
import os

import redis
from flask import Flask, Response, request

KEY_PREFIX = "zemi:bench:floor:"
TTL_SECONDS = 300


def create_app(redis_url: str | None = None) -> Flask:
    client = redis.Redis.from_url(redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"),
                                  socket_timeout=1, socket_connect_timeout=1)
    app = Flask(__name__)

    @app.post("/ussd")
    def hop():
        key = KEY_PREFIX + str(request.form.get("sessionId", ""))
        seen = client.get(key)
        client.set(key, str(request.form.get("text", "")), ex=TTL_SECONDS)
        return Response("CON " + ("again" if seen else "hello"), mimetype="text/plain")

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app
