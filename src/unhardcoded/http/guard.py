"""Authentication in front of every route: the caller's gateway key, checked against the raw path.

The guard reads `Request.path` exactly as the client sent it (percent-encoded, never rebuilt from Host or
X-Forwarded-*), which is also what the router matches: `//x/receipts`, `/x%2freceipts` or a hostile Host
header reach no route the guard did not check. With no keys configured everyone is an admin (the server
then listens on loopback only).
"""

from __future__ import annotations

from unhardcoded.errors import UserError
from unhardcoded.gateway.auth import OPEN, Caller, KeyRing, presented_key
from unhardcoded.http.errors import error_response, store_unavailable, user_error
from unhardcoded.http.wire import Handler, Request, Response
from unhardcoded.store.base import StoreError

# The checkpoint public key is public by nature: anyone holding a checkpoint may check its signature.
PUBLIC = frozenset(
    {"/healthz", "/openapi.json", "/x/schema/policy", "/x/schema/receipt", "/x/checkpoints/pubkey"}
)
ADMIN_ONLY = frozenset({"/metrics"})  # aggregates over every tenant


class Guard:
    __slots__ = ("_inner", "_keys")

    def __init__(self, inner: Handler, keys: KeyRing) -> None:
        self._inner = inner
        self._keys = keys

    async def __call__(self, req: Request) -> Response | None:
        # The one place a route's errors become answers: bad input names its field, a store that is down
        # says so; the server stays up either way.
        try:
            return await self._check(req)
        except UserError as e:
            return user_error(e)
        except StoreError:
            return store_unavailable()

    async def _check(self, req: Request) -> Response | None:
        if not self._keys:
            req.caller = OPEN
            return await self._inner(req)
        path = req.path
        if path in PUBLIC or path == "/ui" or path.startswith("/ui/"):
            req.caller = None  # the page itself is public; its data calls carry the key
            return await self._inner(req)
        caller = self._keys.caller(presented_key(req.headers))
        if caller is None:
            return error_response(
                401,
                "a gateway key is required: send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'"
                " (`unhardcoded keys add` makes one)",
                "invalid_request_error",
                code="invalid_api_key",
                headers={"www-authenticate": 'Bearer realm="unhardcoded"'},
            )
        if path in ADMIN_ONLY and not caller.admin:
            return error_response(403, f"{path} needs an admin key", "permission_error", code="forbidden")
        req.caller = caller
        return await self._inner(req)


def caller_of(req: Request) -> Caller:
    c = req.caller
    return c if isinstance(c, Caller) else OPEN
