"""Per-deployment circuit breakers: N consecutive failures open a circuit for T seconds, then one probe.

Breakers are per process (each worker learns on its own): a breaker only ever steers traffic away from a
deployment for a short while and the decision waives it when it would leave no candidate, so workers
disagreeing for T seconds costs at most a few extra failed attempts, never a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _State:
    failures: int = 0
    open_until: float = 0.0
    reason: str = ""


@dataclass(slots=True)
class Breakers:
    threshold: int = 5
    open_s: float = 30.0
    version: int = 0  # bumps whenever the set of open circuits changes (the decision memo keys on it)
    _states: dict[str, _State] = field(default_factory=dict)
    _next_expiry: float = float("inf")

    def success(self, deployment: str) -> None:
        s = self._states.get(deployment)
        if s is not None and (s.failures or s.open_until):
            was_open = s.open_until > 0
            s.failures = 0
            s.open_until = 0.0
            if was_open:
                self.version += 1

    def failure(self, deployment: str, now: float, *, reason: str) -> None:
        s = self._states.setdefault(deployment, _State())
        s.failures += 1
        if s.failures >= self.threshold:
            self._open(s, now + self.open_s, f"{s.failures} consecutive failures, last: {reason}")

    def cool_down(self, deployment: str, now: float, seconds: float, *, reason: str) -> None:
        """Keep traffic off a deployment that asked for it (Retry-After)."""
        s = self._states.setdefault(deployment, _State())
        if now + seconds > s.open_until:
            self._open(s, now + seconds, reason)

    def _open(self, s: _State, until: float, reason: str) -> None:
        s.open_until = until
        s.reason = reason
        self._next_expiry = min(self._next_expiry, until)
        self.version += 1

    def open_now(self, now: float) -> dict[str, str]:
        """Deployments whose circuit is open at `now` -> why. Expired ones go half-open (one probe)."""
        if now >= self._next_expiry:
            nxt = float("inf")
            for s in self._states.values():
                if s.open_until and s.open_until <= now:
                    s.open_until = 0.0
                    s.failures = max(0, self.threshold - 1)  # half-open: one more failure re-opens it
                elif s.open_until:
                    nxt = min(nxt, s.open_until)
            self._next_expiry = nxt
            self.version += 1
        return {d: s.reason for d, s in self._states.items() if s.open_until > now}
