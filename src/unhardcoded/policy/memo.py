"""A bounded memo of decisions, keyed by policy (sha256, name), catalog version, features and runtime key."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from unhardcoded.catalog.model import Catalog
from unhardcoded.policy.decision import Decision, RuntimeState
from unhardcoded.policy.engine import decide
from unhardcoded.policy.model import Policy
from unhardcoded.policy.request import RequestFeatures


class DecisionMemo:
    """LRU of decisions. Decisions are pure, so a hit is exactly what `decide` would return."""

    __slots__ = ("_data", "hits", "maxsize", "misses")

    def __init__(self, maxsize: int = 4096) -> None:
        self._data: OrderedDict[Hashable, Decision] = OrderedDict()
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0

    def decide(
        self, policy: Policy, catalog: Catalog, features: RequestFeatures, runtime: RuntimeState | None = None
    ) -> Decision:
        runtime = runtime or RuntimeState()
        # The name is on the receipt too: the same canonical policy inline and by name are two entries.
        key = (policy.sha256, policy.name, catalog.version, features.key(), runtime.key)
        d = self._data.get(key)
        if d is not None:
            self.hits += 1
            self._data.move_to_end(key)
            return d
        self.misses += 1
        d = decide(policy, catalog, features, runtime)
        self._data[key] = d
        if len(self._data) > self.maxsize:
            self._data.popitem(last=False)
        return d

    def __len__(self) -> int:
        return len(self._data)
