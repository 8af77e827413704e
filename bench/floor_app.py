"""The floor for bench/ussd.py: a bare Flask app whose one endpoint does one Redis GET and one SET.

It takes the same AT-format form as POST /ussd and answers text/plain, so the HTTP work on both sides
(form parsing, a Redis round trip or two, a small reply) is alike; everything else Zemi does on a hop
is what the benchmark's ratio prices. Served by the same gunicorn settings as the real app:

    REDIS_URL=redis://127.0.0.1:6379/13 gunicorn 'bench.floor_app:create_app()'

For bench/callbacks.py it also answers POST /hooks/floor/<token>: the body kept with one INSERT into
floor_callbacks (FLOOR_DATABASE_URL, a plain postgresql:// URL), then the same 200 Daraja expects.
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

    database = {}

    @app.post("/hooks/floor/<token>")
    def keep_callback(token):
        """The floor for bench/callbacks.py: the raw body kept with one INSERT (autocommit), then 200."""
        if "connection" not in database:   # one connection per worker, opened on first use
            import psycopg
            url = os.environ["FLOOR_DATABASE_URL"]
            database["connection"] = connection = psycopg.connect(url, autocommit=True)
            connection.execute("CREATE TABLE IF NOT EXISTS floor_callbacks (id bigserial PRIMARY KEY, body text)")
        database["connection"].execute("INSERT INTO floor_callbacks (body) VALUES (%s)",
                                       (request.get_data(as_text=True),))
        return {"ResultCode": 0, "ResultDesc": "Accepted"}

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app
