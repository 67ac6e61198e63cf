"""Fill a deployment's missing context window from another public statement about the same model.

litellm leaves `max_input_tokens` out of some keys (Azure data-zone keys, a Vertex self-deploy key, a
host's newest model) while another key states it. In order, first match wins, each value cited:
1. the same provider's other key for the same model (`azure/gpt-5` for `azure/eu/gpt-5`);
2. the model creator's own API (`moonshot/kimi-k3.1-pro` for Nebius' Kimi K3.1 Pro): the model's
   native window, which a host may lower but no saved source says so.
Prices are never borrowed this way: they differ by provider and region.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from catalog_build.fields import positive_int
from catalog_build.keys import parse_key
from catalog_build.lookups import FIRST_PARTY
from catalog_build.naming import normalize


def _index(litellm: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """(provider, creator/name) -> [(litellm key, max_input_tokens)] for keys that state a window."""
    out: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for key in sorted(litellm):
        for c in parse_key(key, litellm[key]):
            window = positive_int(c.entry.get("max_input_tokens"))
            norm = normalize(c.upstream, c.provider)
            if window is not None and norm is not None:
                out[(c.provider, f"{norm[0]}/{norm[1]}")].append((key, window))
    return out


def fill_context_windows(deployments: list[dict[str, Any]], litellm: dict[str, Any]) -> None:
    index = _index(litellm)
    for d in deployments:
        if d["context_window"] is not None:
            continue
        creator = d["model"].split("/", 1)[0]
        tries = [(d["provider"], "same model on the same provider")]
        own = FIRST_PARTY.get(creator)
        if own is not None and own != d["provider"]:
            tries.append((own, "the model's own API, its native window"))
        for provider, why in tries:
            found = index.get((provider, d["model"]))
            if found:
                key, window = found[0]
                d["context_window"] = window
                d["sources"]["context_window"] = f"litellm:{key} ({why})"
                d["sources"] = dict(sorted(d["sources"].items()))
                break
