"""One tree of errors for the whole package.

UnhardcodedError
 +-- UserError                 your mistake: a bad policy, request or config (a 4xx)
 |    +-- PolicyError          the policy does not validate; carries the JSON path and the valid choices
 |    +-- ConfigError          the config file or catalog overlay is wrong
 |    +-- RequestError         the chat request itself is malformed
 +-- CallFailed                a chat call ended without an answer; its receipt is already written
 |    +-- NoRouteError         the policy left no candidate (the receipt says why)
 |    |    +-- BudgetExceeded  ... because a spend cap (`rt:budget`) dropped them
 |    +-- UpstreamFailed       every attempt the fallback rules allowed failed
 +-- ProviderError             one upstream attempt failed; `error_class` drives fallback

Only http/errors.py turns these into HTTP responses.
"""

from __future__ import annotations

from typing import Any, Literal

ErrorClass = Literal[
    "rate_limited",
    "server_error",
    "timeout",
    "connection_error",
    "bad_response",
    "client_error",
    "auth_error",
]
ERROR_CLASSES: tuple[ErrorClass, ...] = (
    "rate_limited",
    "server_error",
    "timeout",
    "connection_error",
    "bad_response",
    "client_error",
    "auth_error",
)
FALLBACK_CLASSES: tuple[ErrorClass, ...] = (
    "rate_limited",
    "server_error",
    "timeout",
    "connection_error",
    "bad_response",
)


class UnhardcodedError(Exception):
    """Root of every error this package raises on purpose."""


class UserError(UnhardcodedError):
    """The caller's mistake; maps to a 4xx."""

    status = 400

    def __init__(self, message: str, *, path: str | None = None, choices: list[str] | None = None) -> None:
        self.message = message
        self.path = path
        self.choices = choices
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.path is not None:
            out["path"] = self.path
        if self.choices is not None:
            out["choices"] = self.choices
        return out


class PolicyError(UserError):
    """The policy does not validate against sigma-pol/v1."""


class ConfigError(UserError):
    """The config file or the catalog overlay is wrong."""


class RequestError(UserError):
    """The chat request is malformed."""


class CallFailed(UnhardcodedError):
    """A call ended without an answer. Its receipt is stored; `headers` name it for the client."""

    def __init__(self, message: str, *, request_id: str, headers: dict[str, str]) -> None:
        self.message = message
        self.request_id = request_id
        self.headers = headers
        super().__init__(message)


class NoRouteError(CallFailed):
    """No candidate passed the policy; the receipt lists why each one was rejected."""


class BudgetExceeded(NoRouteError):
    """A spend cap with `on_budget: reject` (or nothing that fits what is left) refused the call."""

    def __init__(self, message: str, *, budget: str, request_id: str, headers: dict[str, str]) -> None:
        self.budget = budget
        super().__init__(message, request_id=request_id, headers=headers)


class UpstreamFailed(CallFailed):
    """Every attempt the fallback rules allowed failed; `error_class` and `status` are the last one's."""

    def __init__(
        self,
        error_class: ErrorClass,
        message: str,
        *,
        status: int | None,
        request_id: str,
        headers: dict[str, str],
    ) -> None:
        self.error_class: ErrorClass = error_class
        self.status = status
        super().__init__(message, request_id=request_id, headers=headers)


class ProviderError(UnhardcodedError):
    """An upstream call failed. `error_class` is one of ERROR_CLASSES and decides fallback."""

    def __init__(
        self,
        error_class: ErrorClass,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.error_class: ErrorClass = error_class
        self.message = message
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"{error_class}: {message}")
