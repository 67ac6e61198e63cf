"""What a handler sees and returns, whatever server runs it: Request, Response, the stream sink, a router.

A handler is ``async def handler(req: Request) -> Response | None``. It answers in one piece by
returning a Response, or streams: ``await req.sink.start(headers)`` sends the status line and
headers (chunked), each ``await req.sink.write(data)`` sends one chunk, and returning ends the
stream (return None). A write after the client left raises ClientDisconnected, so a streaming
handler learns of it at its next write; ``req.disconnected`` says so without writing, and
``await req.wait_disconnected()`` waits for it.

``Request.path`` is the raw path exactly as the client sent it (still percent-encoded, no query,
never rebuilt from Host): authorisation and routing read the same bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import unquote

import orjson

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


class ClientDisconnected(ConnectionError):
    """The client closed the connection; nothing more can be sent to it."""


class Sink(Protocol):
    """Where a streamed answer goes (the server provides it as ``Request.sink``)."""

    started: bool

    async def start(self, headers: Headers, status: int = 200) -> None: ...

    async def write(self, data: bytes) -> None: ...


class Connection(Protocol):
    """What a Request needs from the connection it arrived on."""

    @property
    def disconnected(self) -> bool: ...

    async def wait_disconnected(self) -> None: ...


class Request:
    """One complete request: the body is read whole before the handler runs (the server limits it)."""

    __slots__ = (
        "body",
        "caller",
        "client",
        "conn",
        "headers",
        "http_version",
        "method",
        "params",
        "path",
        "query",
        "sink",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        *,
        http_version: str = "1.1",
        client: tuple[str, int] | None = None,
        sink: Sink,
        conn: Connection,
    ) -> None:
        self.method = method
        self.path = path  # raw: percent-encoded as sent
        self.query = query  # raw, without the "?"
        self.headers = headers  # names lower-cased; repeated fields joined with ", "
        self.body = body
        self.http_version = http_version
        self.client = client
        self.params: dict[str, str] = {}  # filled by the router from {name} segments, percent-decoded
        self.sink = sink
        self.conn = conn
        self.caller: Any = None  # who is calling: set by the app's authentication, read by handlers

    @property
    def disconnected(self) -> bool:
        return self.conn.disconnected

    async def wait_disconnected(self) -> None:
        await self.conn.wait_disconnected()

    def __repr__(self) -> str:  # headers may carry keys
        return f"Request({self.method} {self.path}, {len(self.body)} bytes)"


class Response:
    """A complete answer. The server frames it: Content-Length, Transfer-Encoding, Connection are its own."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        headers: Headers | None = None,
        content_type: str | None = "application/json",
    ) -> None:
        self.body = body
        self.status = status
        h: list[tuple[str, str]] = [] if content_type is None else [("content-type", content_type)]
        if headers:  # dict first: isinstance against the Mapping ABC costs a microsecond per answer
            h += headers.items() if isinstance(headers, dict | Mapping) else headers
        self.headers = h

    @classmethod
    def json(cls, data: object, status: int = 200, headers: Headers | None = None) -> Response:
        return cls(orjson.dumps(data), status, headers)

    @classmethod
    def text(cls, text: str, status: int = 200, headers: Headers | None = None) -> Response:
        return cls(text.encode(), status, headers, "text/plain; charset=utf-8")


Handler = Callable[[Request], Awaitable[Response | None]]
ErrorResponder = Callable[[int, str], Response]


def error_json(status: int, message: str) -> Response:
    """The default error body: OpenAI's shape, as every other error of the gateway has."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return Response.json({"error": {"message": message, "type": kind, "param": None, "code": None}}, status)


class Router:
    """Dispatch by method and path. Static paths are one dict lookup; ``{name}`` matches one segment.

    The router is itself a Handler: give it to the server. 404 for an unknown path, 405 (with Allow)
    for a known path and another method.
    """

    def __init__(self, errors: ErrorResponder = error_json) -> None:
        self._static: dict[str, dict[str, Handler]] = {}
        self._dynamic: list[tuple[tuple[str, ...], dict[str, Handler]]] = []
        self.errors = errors

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        if not pattern.startswith("/"):
            raise ValueError(f"route {pattern!r}: must start with /")
        parts = tuple(pattern.split("/")[1:])
        if not any(p.startswith("{") for p in parts):
            self._static.setdefault(pattern, {})[method.upper()] = handler
            return
        for p in parts:
            if p.startswith("{") and not (p.endswith("}") and len(p) > 2):
                raise ValueError(f"route {pattern!r}: a parameter is one whole segment, {{name}}")
        for existing, methods in self._dynamic:
            if existing == parts:
                methods[method.upper()] = handler
                return
        self._dynamic.append((parts, {method.upper(): handler}))

    def get(self, pattern: str, handler: Handler) -> None:
        self.add("GET", pattern, handler)

    def post(self, pattern: str, handler: Handler) -> None:
        self.add("POST", pattern, handler)

    def match(self, path: str) -> tuple[dict[str, Handler], dict[str, str]] | None:
        """(handlers by method, params) for a raw path, or None."""
        methods = self._static.get(path)
        if methods is not None:
            return methods, {}
        segments = path.split("/")[1:]
        for parts, methods in self._dynamic:
            if len(parts) != len(segments):
                continue
            params: dict[str, str] = {}
            for want, got in zip(parts, segments, strict=True):
                if want.startswith("{"):
                    if not got:
                        break
                    params[want[1:-1]] = unquote(got)
                elif want != got:
                    break
            else:
                return methods, params
        return None

    async def __call__(self, req: Request) -> Response | None:
        found = self.match(req.path)
        if found is None:
            return self.errors(404, f"no route for {req.method} {req.path}")
        methods, params = found
        handler = methods.get(req.method)
        if handler is None:
            resp = self.errors(405, f"{req.method} is not allowed on {req.path}")
            resp.headers.append(("allow", ", ".join(sorted(methods))))
            return resp
        req.params = params
        return await handler(req)
