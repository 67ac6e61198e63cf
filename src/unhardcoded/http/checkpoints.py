"""`GET /x/checkpoints`, `GET /x/checkpoints/pubkey` and `POST /x/verify` (gateway/checkpoints.py).

The list is tenant-scoped like every `/x/` read (a client key sees its own tenant's checkpoints); the
public key is the same for everyone; verifying walks every tenant's chain, so it needs an admin key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import orjson

from unhardcoded.http.errors import error_response, invalid_json
from unhardcoded.http.guard import caller_of
from unhardcoded.http.wire import Request, Response, Router

if TYPE_CHECKING:
    from unhardcoded.gateway.service import Gateway


class CheckpointRoutes:
    def __init__(self, gw: Gateway) -> None:
        self.checkpoints = gw.checkpoints

    async def pubkey(self, req: Request) -> Response:
        found = self.checkpoints.public_key()
        if found is None:
            return error_response(
                404,
                "no checkpoint signing key is configured (checkpoints.signing_key_file, or the variable "
                "checkpoints.signing_key_env names; `unhardcoded keys signing --new` makes one)",
                "not_found",
                code="no_signing_key",
            )
        return Response.json(found)

    async def list(self, req: Request) -> Response:
        query = {k: v[-1] for k, v in parse_qs(req.query, keep_blank_values=True).items()}
        return Response.json(await self.checkpoints.list(query, caller_of(req)))

    async def verify(self, req: Request) -> Response:
        if not caller_of(req).admin:
            return error_response(
                403, "/x/verify needs an admin key: it reads every tenant's chain", "permission_error",
                code="forbidden",
            )  # fmt: skip
        try:
            doc = orjson.loads(req.body) if req.body.strip() else {}
        except orjson.JSONDecodeError:
            return invalid_json()
        return Response.json(await self.checkpoints.verify(doc, caller_of(req)))


def add_checkpoint_routes(router: Router, gw: Gateway) -> None:
    r = CheckpointRoutes(gw)
    router.get("/x/checkpoints", r.list)
    router.get("/x/checkpoints/pubkey", r.pubkey)
    router.post("/x/verify", r.verify)
