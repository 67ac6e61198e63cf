"""The OpenAPI 3.1 document served at /openapi.json (hand-kept beside the routes in app.py)."""

from __future__ import annotations

from typing import Any

from unhardcoded import __version__

_TENANT = {
    "type": "string",
    "minLength": 1,
    "description": "whose calls are read: a client key's own only; an admin's, every tenant's unless named",
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ok(
    description: str, schema: dict[str, Any] | None = None, media: str = "application/json"
) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema or {"type": "object"}}}}


_ERR = {"$ref": "#/components/schemas/Error"}
_ERRORS = {
    "400": _ok("invalid request or policy: the message names the field and the valid choices", _ERR),
    "404": _ok("not found", _ERR),
}
_401 = _ok("no valid gateway key (when keys are configured); WWW-Authenticate says how to send one", _ERR)
_PUBLIC = (
    "/healthz",
    "/x/schema/{what}",
    "/x/checkpoints/pubkey",
)  # answered without a key (http/guard.py PUBLIC)


def openapi_document() -> dict[str, Any]:
    chat_request = {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": {
                "type": "string",
                "description": "'auto', 'policy:NAME', or a deployment/model id (pinned)",
            },
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["role"],
                    "properties": {
                        "role": {"enum": ["system", "developer", "user", "assistant", "tool", "function"]}
                    },
                },
            },
            "policy": {"oneOf": [{"$ref": "#/components/schemas/Policy"}, {"type": "string"}]},
            "stream": {"type": "boolean"},
            "max_tokens": {"type": "integer", "minimum": 1},
            "max_completion_tokens": {"type": "integer", "minimum": 1},
            "tools": {"type": "array"},
            "response_format": {"type": "object"},
        },
        "additionalProperties": True,
    }
    get_paths = {
        "/v1/models": "the catalog's deployments (and 'auto', 'policy:NAME'), OpenAI list format",
        "/healthz": "liveness",
        "/x/fields": "every catalog field: type, unit, description, source, ops",
        "/x/catalog": "the catalog now",
    }
    paths: dict[str, Any] = {
        "/v1/chat/completions": {
            "post": {
                "summary": "OpenAI-compatible chat completions, routed by the call's policy",
                "parameters": [
                    {
                        "name": "x-unhardcoded-policy",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    },
                    {"name": "traceparent", "in": "header", "required": False, "schema": {"type": "string"}},
                ],
                "requestBody": _json_body(chat_request),
                "responses": {
                    "200": {
                        "description": "chat.completion, or an SSE stream of chat.completion.chunk",
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    "422": _ok("no deployment passed the policy (the receipt says why)", _ERR),
                    "429": _ok("every attempt was rate limited", _ERR),
                    "502": _ok("every attempt failed upstream", _ERR),
                    "504": _ok("the call's budget ran out", _ERR),
                    **_ERRORS,
                },
            }
        },
        "/x/rank": {
            "post": {
                "summary": "dry run: the decision for a policy and request, no inference",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "properties": {
                            "policy": {"$ref": "#/components/schemas/Policy"},
                            "request": chat_request,
                        },
                    }
                ),
                "responses": {"200": _ok("the decision, as a receipt without attempts"), **_ERRORS},
            }
        },
        "/x/policies": {
            "post": {
                "summary": "store a policy: adds an immutable version (config policies are read-only)",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["name", "policy"],
                        "properties": {
                            "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                            "policy": {"$ref": "#/components/schemas/Policy"},
                        },
                    }
                ),
                "responses": {"201": _ok("the new version"), **_ERRORS},
            },
            "get": {
                "summary": "config policies and the newest version of each stored one",
                "responses": {"200": _ok("policies")},
            },
        },
        "/x/policies/{name}": {
            "get": {
                "summary": "every version of one policy",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _ok("versions"), **_ERRORS},
            }
        },
        "/x/audit": {
            "get": {
                "summary": "audit: per fingerprint, the rules and what each excluded; one call's proof",
                "parameters": [
                    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                    for n in ("fingerprint", "request_id", "rule", "since", "until", "tenant")
                ],
                "responses": {"200": _ok("the audit"), **_ERRORS},
            }
        },
        "/x/simulate": {
            "post": {
                "summary": "what-if: a new policy over the features and usage of past calls",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["policy"],
                        "properties": {
                            "policy": {},
                            "since": {"type": "string"},
                            "until": {"type": "string"},
                            "workload": {"type": "string"},
                            "tenant": _TENANT,
                            "live": {"type": "boolean"},
                        },
                    }
                ),
                "responses": {"200": _ok("projected cost and moves"), **_ERRORS},
            }
        },
        "/x/rollup": {
            "get": {
                "summary": "finance: calls, tokens, cost, baseline cost, savings, passed-over candidates",
                "parameters": [
                    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                    for n in ("by", "since", "until", "workload", "series")
                ],
                "responses": {"200": _ok("the roll-up"), **_ERRORS},
            }
        },
        "/x/budgets": {
            "get": {
                "summary": "each spend cap: its period, spend and what is left",
                "responses": {"200": _ok("budgets")},
            }
        },
        "/x/replay": {
            "post": {
                "summary": "replay a receipt or trace as then and now, or a policy over a period",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "properties": {
                            "request_id": {"type": "string"},
                            "trace_id": {"type": "string"},
                            "fingerprint": {"type": "string"},
                            "since": {"type": "string", "description": "30d, 12h, ... or ISO 8601"},
                            "until": {"type": "string"},
                            "tenant": _TENANT,
                            "live": {"type": "boolean"},
                        },
                    }
                ),
                "responses": {"200": _ok("the replay: as_then per receipt, now with the diff"), **_ERRORS},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": _ok("text format", {"type": "string"}, "text/plain")},
            }
        },
        "/x/catalog/{version}": {
            "get": {
                "summary": "the catalog as it was at a version a receipt names",
                "parameters": [
                    {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _ok("catalog"), **_ERRORS},
            }
        },
        "/x/receipts/{request_id}": {
            "get": {
                "summary": "one receipt, decision expanded",
                "parameters": [
                    {"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _ok("receipt", {"$ref": "#/components/schemas/Receipt"}), **_ERRORS},
            }
        },
        "/x/traces/{trace_id}": {
            "get": {
                "summary": "every receipt of a trace, with totals",
                "parameters": [
                    {"name": "trace_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _ok("trace"), **_ERRORS},
            }
        },
        "/x/traces": {
            "get": {
                "summary": "search receipts, newest first; next_cursor pages back",
                "parameters": [
                    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                    for n in (
                        "workload",
                        "since",
                        "until",
                        "deployment",
                        "fingerprint",
                        "status",
                        "workflow",
                        "cursor",
                        "limit",
                    )
                ],
                "responses": {"200": _ok("receipt summaries"), **_ERRORS},
            }
        },
        "/x/checkpoints": {
            "get": {
                "summary": "signed checkpoints of each tenant's receipt chain, oldest first",
                "parameters": [
                    {"name": "tenant", "in": "query", "required": False, "schema": _TENANT},
                    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
                "responses": {"200": _ok("checkpoints and next_cursor"), **_ERRORS},
            }
        },
        "/x/checkpoints/pubkey": {
            "get": {
                "summary": "the Ed25519 public key that signs checkpoints (404 when none is configured)",
                "responses": {"200": _ok("the public key"), "404": _ok("no signing key configured", _ERR)},
            }
        },
        "/x/verify": {
            "post": {
                "summary": "walk the receipt chains and checkpoints: intact, or the first bad entry (admin)",
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "tenant": {"type": "string"},
                                    "receipts": {
                                        "type": "array",
                                        "items": {"type": "string", "description": "SEQ:HASH"},
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _ok("per tenant: intact, or the first bad sequence number and why"),
                    "403": _ok("a client key: verifying reads every tenant's chain", _ERR),
                    **_ERRORS,
                },
            }
        },
        "/x/schema/{what}": {
            "get": {
                "summary": "JSON Schema of a policy or a receipt",
                "parameters": [
                    {
                        "name": "what",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": ["policy", "receipt"]},
                    }
                ],
                "responses": {"200": _ok("schema"), **_ERRORS},
            }
        },
    }
    for path, summary in get_paths.items():
        paths[path] = {"get": {"summary": summary, "responses": {"200": _ok(summary)}}}
    for path, ops in paths.items():
        for op in ops.values():
            if path in _PUBLIC:
                op["security"] = []
            else:
                op["responses"]["401"] = _401
    paths["/metrics"]["get"]["responses"]["403"] = _ok("a client key: metrics span every tenant", _ERR)
    return {
        "openapi": "3.1.0",
        "info": {"title": "unhardcoded gateway", "version": __version__},
        "paths": paths,
        # Either header carries a gateway key (the OpenAI SDK sends the first, the Anthropic SDK the second).
        "security": [{"bearer": []}, {"apiKey": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer KEY"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["message", "type"],
                            "properties": {
                                "message": {"type": "string"},
                                "type": {"type": "string"},
                                "param": {"type": ["string", "null"]},
                                "code": {"type": ["string", "null"]},
                                "choices": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    },
                },
                "Policy": {
                    "type": "object",
                    "description": "sigma-pol/v1; GET /x/schema/policy has the full schema",
                },
                "Receipt": {"type": "object", "description": "GET /x/schema/receipt has the full schema"},
            },
        },
    }
