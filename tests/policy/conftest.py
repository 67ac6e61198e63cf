"""Settings for mutation runs: `make mutation` sets UNHARDCODED_MUTATION=1 (docs/mutation.md).

There every test selected for a mutant runs until the first failure, so: example tests first and property
tests last (most mutants die in the first cheap test); no shrinking (one failing example kills); no example
database carried from one mutant to the next; no deadline (mutmut's trampolines slow every call); a fixed
seed, so a run repeats; and a fifth of the examples (see `_support.examples`).
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings

from ._support import MUTATION_RUN, examples

settings.register_profile(
    "mutation",
    max_examples=examples(100),
    phases=(Phase.explicit, Phase.generate),
    database=None,
    deadline=None,
    derandomize=True,
)
if MUTATION_RUN:
    settings.load_profile("mutation")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if MUTATION_RUN:
        items.sort(key=lambda item: getattr(getattr(item, "obj", None), "is_hypothesis_test", False))
