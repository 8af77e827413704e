"""The OpenAPI 3.1 document, generated from the operation table and the pydantic models."""
from api.keys import SCOPES
from api.operations import OPERATIONS, Operation
from api.problems import PROBLEMS, TYPE_PREFIX
from api.schemas import Problem

REF = "#/components/schemas/{model}"
ERROR_STATUSES = ("400", "401", "403", "404", "409", "410", "413", "422", "423", "429", "500")


def openapi_document(public_base_url: str) -> dict:
    schemas: dict = {}
    paths: dict = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schemas)
    _add_schema(Problem, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Zemi Escrow API", "version": "1",
                 "description": "M-Pesa escrow for shops, bots and apps: the same core and rules as Zemi's USSD "
                                "service. Money is whole Kenya shillings as JSON integers. Errors are RFC 9457 "
                                "problem documents; their `type`s: " +
                                ", ".join(f"`{TYPE_PREFIX}{slug}` ({status})"
                                          for slug, (status, _) in PROBLEMS.items()) + "."},
        "servers": [{"url": public_base_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "An API key from `flask apikeys create NAME --scopes ...`; scopes: "
                                          + ", ".join(SCOPES)},
                "phoneToken": {"type": "apiKey", "in": "header", "name": "Zemi-Phone-Token",
                               "description": "From POST /v1/verifications/{id}/check: acts for that number"}},
        },
    }


def _add_schema(model, schemas: dict) -> dict:
    schema = model.model_json_schema(ref_template=REF, mode="serialization")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _operation(op: Operation, schemas: dict) -> dict:
    problem_ref = {"$ref": REF.format(model="Problem")}
    document = {
        "operationId": op.name, "summary": op.summary,
        "security": [{"apiKey": [], "phoneToken": []}] if op.phone else [{"apiKey": []}],
        "x-scope": op.scope,
        "parameters": [{"name": name, "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
                       for name in _path_names(op.path)]
        + [{"name": name, "in": "query", "required": False, "schema": schema, "description": about}
           for name, schema, about in op.query],
        "responses": {str(op.status): {"description": "OK", "content": {
            "application/json": {"schema": _add_schema(op.response, schemas)}}}},
    }
    for status in ERROR_STATUSES:
        document["responses"][status] = {"description": "A problem (RFC 9457)",
                                         "content": {"application/problem+json": {"schema": problem_ref}}}
    if op.method == "POST":
        document["parameters"].append({
            "name": "Idempotency-Key", "in": "header", "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": "Same key and body: the first response again (errors too); another body: 422; "
                           "while the first still runs: 409. Kept 24 hours, per API key."})
        if op.body is not None:
            document["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": _add_schema(op.body, schemas)}}}
    return document


def _path_names(path: str) -> list[str]:
    import re
    return re.findall(r"\{(\w+)\}", path)


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Zemi Escrow API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;color:#222}
code,pre{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}pre{padding:.6rem;overflow:auto}
.op{border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem;margin:.8rem 0}
.m{font-weight:700;display:inline-block;min-width:3.5rem}.GET{color:#06c}.POST{color:#070}
small{color:#666}</style></head><body>
<h1>Zemi Escrow API <small>v1</small></h1>
<p>{description}</p>
<p>Machine-readable: <a href="/v1/openapi.json">/v1/openapi.json</a> (OpenAPI 3.1).
Authenticate with <code>Authorization: Bearer &lt;API key&gt;</code>; act for a phone number with
<code>Zemi-Phone-Token</code> after its one-time SMS code; every POST needs an <code>Idempotency-Key</code>.</p>
{operations}
</body></html>"""


def docs_page(document: dict) -> str:
    from html import escape

    parts = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            fields = ""
            if body:
                schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
                fields = "<br><small>body: " + ", ".join(
                    escape(name) + ("*" if name in schema.get("required", ()) else "")
                    for name in schema.get("properties", {})) + "</small>"
            token = " · phone token" if any("phoneToken" in s for s in op["security"]) else ""
            parts.append(f'<div class="op"><span class="m {method.upper()}">{method.upper()}</span>'
                         f'<code>{escape(path)}</code> — {escape(op["summary"])}'
                         f'<br><small>scope: {escape(op["x-scope"])}{token}</small>{fields}</div>')
    return DOCS_PAGE.replace("{description}", escape(document["info"]["description"])) \
        .replace("{operations}", "\n".join(parts))
