"""How the aiohttp transport names a failure (gateway/transport.py `_map_error`): the error class that
decides fallback, and a message that never carries the URL or headers (which may hold keys).
"""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from unhardcoded.gateway.transport import _map_error

KEY = ConnectionKey("api.test", 443, True, None, None, None, None)


@pytest.mark.parametrize(
    ("raised", "error_class", "message"),
    [
        (TimeoutError(), "timeout", "upstream timed out"),
        (TimeoutError(), "timeout", "upstream timed out"),
        (aiohttp.ServerTimeoutError("read"), "timeout", "upstream timed out"),
        (
            aiohttp.ClientConnectorError(KEY, OSError(111, "Connection refused")),
            "connection_error",
            "cannot connect to upstream: Connection refused",
        ),
        (
            aiohttp.ClientConnectorError(KEY, OSError()),
            "connection_error",
            "cannot connect to upstream: refused",
        ),
        (aiohttp.ServerDisconnectedError(), "connection_error", "upstream closed the connection"),
        (aiohttp.ClientOSError(), "connection_error", "upstream closed the connection"),
        (ConnectionResetError(), "connection_error", "upstream closed the connection"),
        (aiohttp.ClientPayloadError("cut"), "bad_response", "upstream sent a truncated or malformed body"),
        (
            aiohttp.InvalidURL("http://x?key=secret"),
            "connection_error",
            "upstream request failed: InvalidURL",
        ),
    ],
)
def test_each_failure_has_its_class_and_a_message_without_the_url(
    raised: BaseException, error_class: str, message: str
) -> None:
    e = _map_error(raised)
    assert (e.error_class, e.message) == (error_class, message)
