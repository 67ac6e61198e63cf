"""The raw source files: names, loading, hashes. Everything is read from one sources directory."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LITELLM = "litellm-1.110.2_model_prices_and_context_window_backup.json"
AA = "artificialanalysis_llms_2026-08-22.json"
OPENROUTER = "openrouter_api_v1_models_2026-08-19.json"
MODELS_DEV = "models.dev_2026-07-02/providers"

AA_SNAPSHOT = "2026-08-22"

BUILT_FROM_META: dict[str, tuple[str, str]] = {
    LITELLM: (
        "MIT",
        "prices, context window, max output, capability flags, deprecation date, upstream model ids and "
        "region-pinned keys (Azure data zones, Bedrock profiles/regions, Vertex supported_regions), "
        "Vertex regional_endpoint_uplift_multiplier",
    ),
    AA: (
        "Artificial Analysis terms; attribution required",
        "bench_intelligence (Intelligence Index), release_date, open_weights",
    ),
    MODELS_DEV: (
        "MIT",
        "capability fallback (same provider listing), release_date and open_weights fallback, "
        "third-party host currentness (listed for that host), zero-price cross-check",
    ),
    OPENROUTER: (
        "OpenRouter terms (origin repo has no LICENSE); reference data only",
        "capability fallback for first-party APIs, release_date fallback (created)",
    ),
}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sha256_tree(root: Path) -> str:
    """Digest of a directory: sha256 of the sorted 'sha256  relative/path' lines of its .toml files."""
    lines = [f"{sha256_file(p)}  {p.relative_to(root).as_posix()}\n" for p in sorted(root.rglob("*.toml"))]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


@dataclass
class MdModel:
    """One models.dev model file with `base_model` resolved where the base file was copied."""

    provider: str  # models.dev provider dir, e.g. "amazon-bedrock"
    model_id: str  # path under models/ without .toml, e.g. "eu.anthropic.claude-sonnet-5"
    data: dict[str, Any]
    origin: dict[str, str] = field(default_factory=dict)  # top-level key -> "provider/models/x.toml"

    @property
    def ref(self) -> str:
        return f"{self.provider}/models/{self.model_id}.toml"

    def get(self, dotted: str) -> tuple[Any, str | None]:
        """(value, models.dev file it came from) for a dotted key such as 'modalities.input'."""
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None, None
            node = node[part]
        return node, self.origin.get(dotted.split(".", 1)[0], self.ref)


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in child.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _drop(data: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    node: Any = data
    for p in parents:
        node = node.get(p) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def load_models_dev(root: Path) -> list[MdModel]:
    raw: dict[tuple[str, str], dict[str, Any]] = {}
    for prov_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        models = prov_dir / "models"
        if not models.is_dir():
            continue
        for f in sorted(models.rglob("*.toml")):
            model_id = f.relative_to(models).as_posix()[: -len(".toml")]
            raw[(prov_dir.name, model_id)] = tomllib.loads(f.read_text(encoding="utf-8"))
    out = []
    for (prov, model_id), data in sorted(raw.items()):
        ref = f"{prov}/models/{model_id}.toml"
        origin = {k: ref for k in data}
        base_ref = data.get("base_model")
        if isinstance(base_ref, str) and "/" in base_ref:
            b_prov, _, b_id = base_ref.partition("/")
            base = raw.get((b_prov, b_id))
            if base is not None and (b_prov, b_id) != (prov, model_id):
                b_file = f"{b_prov}/models/{b_id}.toml"
                merged = _merge(base, data)
                origin = {k: (ref if k in data else b_file) for k in merged}
                for dotted in data.get("base_model_omit", []):
                    _drop(merged, dotted)
                data = merged
        out.append(MdModel(prov, model_id, data, origin))
    return out


@dataclass
class Sources:
    root: Path
    litellm: dict[str, Any]
    aa_rows: list[dict[str, Any]]
    openrouter: list[dict[str, Any]]
    models_dev: list[MdModel]

    def built_from(self) -> list[dict[str, str]]:
        out = []
        for name in (LITELLM, AA, MODELS_DEV, OPENROUTER):
            path = self.root / name
            digest = sha256_tree(path) if path.is_dir() else sha256_file(path)
            lic, role = BUILT_FROM_META[name]
            out.append({"file": name, "sha256": digest, "license": lic, "role": role})
        return out


def load(root: Path) -> Sources:
    litellm = json.loads((root / LITELLM).read_text(encoding="utf-8"))
    aa_rows = json.loads((root / AA).read_text(encoding="utf-8"))["models"]
    openrouter = json.loads((root / OPENROUTER).read_text(encoding="utf-8"))["data"]
    return Sources(root, litellm, aa_rows, openrouter, load_models_dev(root / MODELS_DEV))
