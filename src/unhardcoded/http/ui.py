"""The receipt viewer: `GET /ui` and `GET /ui/{asset}`, static files shipped in the package (http/ui/).

The page is plain HTML, CSS and ES modules that read the `/x/` JSON endpoints; no build step, no CDN, no
request leaves the gateway. The files are read once at startup into memory: an asset name is looked up in
that table, so a name that is not one of the shipped files (`..`, `%2e%2e`, a sub-folder) is simply a 404.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unhardcoded.http.wire import Request, Response, Router

if TYPE_CHECKING:
    from unhardcoded.gateway.service import Gateway

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# One segment, lower-case letters, digits, '-' and '_', then a known extension: nothing else is served.
ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.(?:html|css|js|svg)")

# No inline script or style, nothing from another origin, no framing; the page only talks to its gateway.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
)
# Revalidate every time (an ETag answers 304): a gateway upgrade must never leave a stale script behind.
CACHE_CONTROL = "no-cache"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every shipped file of http/ui/ whose name is servable, by name."""
    folder = importlib.resources.files("unhardcoded.http").joinpath("ui")
    assets: dict[str, Asset] = {}
    for entry in folder.iterdir():
        name = entry.name
        if not entry.is_file() or not ASSET_NAME.fullmatch(name):
            continue
        body = entry.read_bytes()
        ext = name[name.rfind(".") :]
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        assets[name] = Asset(body, CONTENT_TYPES[ext], etag)
    if "index.html" not in assets:
        raise RuntimeError("the receipt viewer's index.html is missing from the package")
    return assets


class UiRoutes:
    """Serves the page and its assets from memory."""

    def __init__(self, assets: dict[str, Asset]) -> None:
        self.assets = assets

    def _serve(self, req: Request, asset: Asset) -> Response:
        headers = [*SECURITY_HEADERS, ("cache-control", CACHE_CONTROL), ("etag", asset.etag)]
        if asset.etag in req.headers.get("if-none-match", ""):
            return Response(b"", 304, headers, content_type=None)
        return Response(asset.body, 200, headers, content_type=asset.content_type)

    async def index(self, req: Request) -> Response:
        return self._serve(req, self.assets["index.html"])

    async def asset(self, req: Request) -> Response:
        name = req.params["asset"]
        found = self.assets.get(name) if ASSET_NAME.fullmatch(name) else None
        if found is None:
            return Response.text(f"no asset {name!r}", 404, headers=SECURITY_HEADERS)
        return self._serve(req, found)


def add_ui_routes(router: Router, gw: Gateway | None = None) -> None:
    """Register `GET /ui` (and `/ui/`) and `GET /ui/{asset}`. `gw` is accepted for symmetry with the other
    routes: the page reads the gateway only through the `/x/` endpoints, so key scoping applies unchanged."""
    ui = UiRoutes(load_assets())
    router.get("/ui", ui.index)
    router.get("/ui/", ui.index)  # as typed by hand; every asset path in the page is absolute
    router.get("/ui/{asset}", ui.asset)
