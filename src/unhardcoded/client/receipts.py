"""`Receipts(base_url, key)`: a small synchronous client for the gateway's read side (SPEC §5).

Built on the standard library (urllib) so that reading receipts adds no dependency; every answer is
decoded into the typed records of records.py, and every error the gateway answers with (the OpenAI
shape `{"error": {message, type, param, code}}`) is raised as GatewayError with those parts.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from unhardcoded.client.decode import decode
from unhardcoded.client.policy import Policy
from unhardcoded.client.records import (
    Budget,
    DryRun,
    PolicyHistory,
    Receipt,
    ReceiptRow,
    Replay,
    Rollup,
    StoredPolicy,
    Trace,
)
from unhardcoded.errors import UnhardcodedError

When = str | dt.datetime | None


class GatewayError(UnhardcodedError):
    """The gateway answered with an error: `status`, and its `message`, `type`, `param`, `code`, `choices`."""

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        choices: list[str] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.choices = choices
        super().__init__(f"{status} {code or type}: {message}" if status else message)


class NotFound(GatewayError):
    """404: no such receipt, trace or policy (or it belongs to another tenant: the same answer)."""


def _when(value: When) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


class Receipts:
    """Read receipts, traces, roll-ups, replays, stored policies and budgets from a running gateway.

    `key`: a gateway key, sent as `Authorization: Bearer`; none is needed for a gateway without keys
    (which then serves loopback only).
    """

    def __init__(self, base_url: str, key: str | None = None, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith("/v1"):  # the OpenAI SDK's base_url works here too
            self.base_url = self.base_url[:-3]
        self.timeout = timeout
        self._headers = {"accept": "application/json", "user-agent": "unhardcoded-python"}
        if key:
            self._headers["authorization"] = f"Bearer {key}"

    def __repr__(self) -> str:  # never the key
        return f"Receipts({self.base_url!r})"

    # -- receipts and traces ----------------------------------------------------------------------

    def receipt(self, request_id: str) -> Receipt:
        """One receipt, by the id of the `x-unhardcoded-request-id` response header."""
        return decode(Receipt, self._get(f"/x/receipts/{_seg(request_id)}"))

    def trace(self, trace_id: str) -> Trace:
        """Every receipt of a trace (`x-unhardcoded-trace-id`), with totals."""
        return decode(Trace, self._get(f"/x/traces/{_seg(trace_id)}"))

    def search(
        self,
        *,
        workload: str | None = None,
        since: When = None,
        until: When = None,
        deployment: str | None = None,
        fingerprint: str | None = None,
        limit: int = 100,
    ) -> list[ReceiptRow]:
        """Receipts matching every filter given, newest first (at most `limit`, up to 1000)."""
        query = {
            "workload": workload,
            "since": _when(since),
            "until": _when(until),
            "deployment": deployment,
            "fingerprint": fingerprint,
            "limit": str(limit),
        }
        doc = self._get("/x/traces", query)
        return [decode(ReceiptRow, r, f"$.receipts[{i}]") for i, r in enumerate(doc["receipts"])]

    # -- finance and replay -----------------------------------------------------------------------

    def rollup(
        self,
        by: str = "workload",
        *,
        since: When = None,
        until: When = None,
        workload: str | None = None,
        series: bool = False,
    ) -> Rollup:
        """What routing cost and saved per `by` group (default: the last 30 days), money as Decimal."""
        query = {
            "by": by,
            "since": _when(since),
            "until": _when(until),
            "workload": workload,
            "series": "1" if series else None,
        }
        doc = dict(self._get("/x/rollup", query))
        # Each group names its key after `by` ("workload": ..., "day": ...); the record calls it `key`.
        doc["groups"] = [{**g, "key": g.get(doc.get("by", by))} for g in doc.get("groups", [])]
        return decode(Rollup, doc)

    def replay(
        self, request_id: str | None = None, *, trace_id: str | None = None, live: bool = False
    ) -> Replay:
        """Re-run a receipt's decision (or each of a trace's) as then and against today's catalog."""
        if (request_id is None) == (trace_id is None):
            raise ValueError("give one of request_id or trace_id")
        body: dict[str, Any] = {"request_id": request_id} if request_id else {"trace_id": trace_id}
        if live:
            body["live"] = True
        return decode(Replay, self._post("/x/replay", body))

    def replay_period(
        self, fingerprint: str, *, since: When = None, until: When = None, live: bool = False
    ) -> dict[str, Any]:
        """Replay every call of a policy over a period (an admin key); the summary as JSON."""
        body: dict[str, Any] = {"fingerprint": fingerprint, "live": live}
        for name, v in (("since", _when(since)), ("until", _when(until))):
            if v is not None:
                body[name] = v
        return dict(self._post("/x/replay", body))

    def budgets(self) -> list[Budget]:
        """Each spend cap this key may see: its period, spend and what is left."""
        doc = self._get("/x/budgets")
        return [decode(Budget, b, f"$.budgets[{i}]") for i, b in enumerate(doc["budgets"])]

    # -- stored policies --------------------------------------------------------------------------

    def policies(self) -> list[StoredPolicy]:
        """Every config policy and the newest version of each stored one."""
        doc = self._get("/x/policies")
        return [decode(StoredPolicy, p, f"$.policies[{i}]") for i, p in enumerate(doc["policies"])]

    def policy(self, name: str) -> PolicyHistory:
        """A named policy, every version (oldest first)."""
        return decode(PolicyHistory, self._get(f"/x/policies/{_seg(name)}"))

    def add_policy(self, name: str, policy: Policy | Mapping[str, Any]) -> StoredPolicy:
        """Store a new immutable version of `name` (a Policy is validated here first); calls then name it."""
        doc = policy.as_extra_body()["policy"] if isinstance(policy, Policy) else dict(policy)
        out = self._post("/x/policies", {"name": name, "policy": doc})
        return decode(StoredPolicy, {"source": "stored", **out})

    def rank(
        self, policy: Policy | Mapping[str, Any] | str, request: Mapping[str, Any] | None = None
    ) -> DryRun:
        """A dry run over the gateway's catalog (no inference): which deployment the policy picks, and why.

        `policy`: a Policy, a policy document, or a stored policy's name; `request`: a chat-completions body
        whose features (tokens, tools...) the decision takes into account.
        """
        doc = policy.to_dict() if isinstance(policy, Policy) else policy
        body: dict[str, Any] = {"policy": doc if isinstance(doc, str) else dict(doc)}
        if request is not None:
            body["request"] = dict(request)
        return decode(DryRun, self._post("/x/rank", body))

    def schema(self, what: str = "receipt") -> dict[str, Any]:
        """The JSON Schema the gateway publishes: `receipt` or `policy`."""
        return dict(self._get(f"/x/schema/{_seg(what)}"))

    # -- transport --------------------------------------------------------------------------------

    def _get(self, path: str, query: Mapping[str, str | None] | None = None) -> Any:
        if query:
            qs = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
            path = f"{path}?{qs}" if qs else path
        return self._send(urllib.request.Request(self.base_url + path, headers=self._headers))

    def _post(self, path: str, body: Any) -> Any:
        data = json.dumps(body).encode()
        headers = {**self._headers, "content-type": "application/json"}
        return self._send(urllib.request.Request(self.base_url + path, data, headers, method="POST"))

    def _send(self, req: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise _error(e.code, e.read()) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise GatewayError(
                None, f"cannot reach {self.base_url}: {reason}", type="connection_error"
            ) from e


def _seg(value: str) -> str:
    """A path segment, escaped: an id never reaches another route."""
    return urllib.parse.quote(value, safe="")


def _error(status: int, body: bytes) -> GatewayError:
    try:
        err = json.loads(body)["error"]
        message = str(err["message"])
    except (ValueError, KeyError, TypeError):
        return (NotFound if status == 404 else GatewayError)(status, body.decode("utf-8", "replace")[:500])
    cls = NotFound if status == 404 else GatewayError
    choices = err.get("choices")
    return cls(
        status,
        message,
        type=err.get("type"),
        param=err.get("param"),
        code=err.get("code"),
        choices=list(choices) if isinstance(choices, list) else None,
    )
