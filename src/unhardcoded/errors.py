"""One tree of errors for the whole package.

UnhardcodedError
 +-- UserError                 your mistake: a bad policy, request or config (a 4xx)
 |    +-- PolicyError          the policy does not validate; carries the JSON path and the valid choices
 |    +-- ConfigError          the config file or catalog overlay is wrong
 |    +-- RequestError         the chat request itself is malformed
 +-- NoRouteError              the policy left no candidate (the decision still says why)
 +-- ProviderError             an upstream call failed; `error_class` drives fallback
 +-- AllAttemptsFailed         every planned attempt failed (an ExceptionGroup of ProviderErrors)
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


class NoRouteError(UnhardcodedError):
    """No candidate passed the policy. `decision` says why each one was rejected."""

    def __init__(self, message: str, decision: Any) -> None:
        self.decision = decision
        super().__init__(message)


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


class AllAttemptsFailed(ExceptionGroup[ProviderError]):
    """Every planned attempt failed; holds each attempt's error in order."""
