"""The JSON API (/v1), payment links (/p/<token>) and webhooks out: an adapter over EscrowService.

`make_api_blueprints(components)` builds the blueprints; `worker_handlers` / `collect_each_pass`
give the worker the outbox kind 'webhook'. Settings: API_RATE_PER_MINUTE, API_VERIFICATION_CODE_SECONDS,
API_PHONE_TOKEN_SECONDS, PAYMENT_LINK_SECONDS, PAYMENT_LINK_PROMPTS_PER_HOUR."""
from api.problems import ApiError

__all__ = ["ApiError", "make_api_blueprints", "worker_handlers", "attach_to_worker"]


def make_api_blueprints(service, db, core, redis_client, env) -> list:
    from flask import Blueprint, Response

    from api.keys import RateLimiter
    from api.openapi import docs_page, openapi_document
    from api.pay_page import make_pay_blueprint
    from api.routes import Context, make_api_blueprint
    from api.verifications import VerificationSettings
    from escrow.settings import read_int

    verification = VerificationSettings(
        code_seconds=read_int(env, "API_VERIFICATION_CODE_SECONDS", 600, minimum=60, maximum=3600),
        token_seconds=read_int(env, "API_PHONE_TOKEN_SECONDS", 3600, minimum=60, maximum=86400))
    base_url = env["PUBLIC_BASE_URL"].rstrip("/")
    context = Context(service=service, db=db, core=core, verification=verification, public_base_url=base_url,
                      link_seconds=read_int(env, "PAYMENT_LINK_SECONDS", 7 * 86400, minimum=300, maximum=90 * 86400))
    limiter = RateLimiter(redis_client, read_int(env, "API_RATE_PER_MINUTE", 120, minimum=1))
    api = make_api_blueprint(context, limiter)
    docs = Blueprint("api_docs", __name__)
    document = openapi_document(base_url)
    page = docs_page(document)
    docs.add_url_rule("/v1/openapi.json", "openapi", lambda: document)
    docs.add_url_rule("/v1/docs", "docs", lambda: Response(page, mimetype="text/html"))
    pay = make_pay_blueprint(context, read_int(env, "PAYMENT_LINK_PROMPTS_PER_HOUR", 10, minimum=1))
    return [api, docs, pay]


def attach_to_worker(worker, db, core):
    """The outbox kind 'webhook', the collecting step and the Idempotency-Key purge, on a worker
    (escrow.worker.Worker)."""
    from api.idempotency import purge_each_pass
    from api.webhooks import OUTBOX_KIND, collect_each_pass, deliver

    worker.handlers[OUTBOX_KIND] = lambda delivery_id: deliver(db, core, delivery_id)
    return purge_each_pass(collect_each_pass(worker, db), db)   # and Idempotency-Keys past 24 hours


def worker_handlers(db, core) -> dict:
    from api.webhooks import OUTBOX_KIND, deliver
    return {OUTBOX_KIND: lambda delivery_id: deliver(db, core, delivery_id)}
