"""Artificial Analysis matching: bench_intelligence, plus release date and open weights from AA.

AA has one row per reasoning-effort variant ("gpt-5-6-terra-high", "claude-4-5-haiku-reasoning").
Rows are grouped into families by stripping the effort suffix; a model takes the highest Intelligence
Index of its family (as catalog-sample.json does), rounded to one decimal like AA's site.

Matching is conservative: the family key must equal the model name with dots as dashes (plus a few
naming-convention rewrites below), the creator must agree, and AA rows whose display name carries a
snapshot qualifier or version the model name lacks ("(Nov '24)", "0813", "Qwen2.5") are ignored.
AA_OVERRIDES pins or blocks the rest by hand; a wrong match is worse than null.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from catalog_build.naming import aa_key

AA_CREATORS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "mistral": "mistral",
    "xai": "xai",
    "deepseek": "deepseek",
    "meta": "meta",
    "kimi": "moonshot",
    "zai": "zai",
    "alibaba": "alibaba",
    "aws": "amazon",
    "minimax": "minimax",
    "cohere": "cohere",
    "nvidia": "nvidia",
    "azure": "microsoft",
    "ai21-labs": "ai21",
    "bytedance_seed": "bytedance",
    "xiaomi": "xiaomi",
    "thinking-machines": "thinkingmachines",
}

# (creator, model) -> AA slugs to use (empty tuple = force null). Each entry says why.
AA_OVERRIDES: dict[tuple[str, str], tuple[str, ...]] = {
    # AA "DeepSeek V4 Pro 0813" is listed by AA at $1.32/$3.96, the price of the deepseek-v4-pro alias.
    ("deepseek", "deepseek-v4-pro"): ("deepseek-v4-pro",),
    # The deepseek-v4-flash alias is now priced like V4.1 Flash (newer than the snapshot); AA's
    # deepseek-v4-flash* rows are the 0420 and 0731 weights. Null on purpose (as in the sample).
    ("deepseek", "deepseek-v4-flash"): (),
    # Hosts that name the 0731 weights explicitly: AA slug deepseek-v4-flash is "V4 Flash 0731".
    ("deepseek", "deepseek-v4-flash-0731"): ("deepseek-v4-flash",),
    # AA lists the GA model ("Gemini 3.1 Flash-Lite") under the preview slug.
    ("google", "gemini-3.1-flash-lite"): ("gemini-3-1-flash-lite-preview",),
    # AA names these "... Preview" but drops "preview" from the slug.
    ("google", "gemini-3-flash-preview"): ("gemini-3-flash", "gemini-3-flash-reasoning"),
    ("google", "gemini-3-pro-preview"): ("gemini-3-pro", "gemini-3-pro-low"),
    ("amazon", "nova-2-pro-preview"): (
        "nova-2-0-pro",
        "nova-2-0-pro-reasoning-low",
        "nova-2-0-pro-reasoning-medium",
    ),
    # Magistral Small 1.2 is API id magistral-small-2509.
    ("mistral", "magistral-small-1.2"): ("magistral-small-2509",),
}

_EFFORT = re.compile(
    r"-(non-reasoning(-low-effort)?|reasoning(-(low|medium|high|minimal))?|low|medium|high|xhigh|minimal)$"
)
_ANTHROPIC_EXTRA = re.compile(r"-(thinking|adaptive)$")
_MONTH_QUALIFIER = re.compile(r"\((Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? '?\d\d\)")
_CODE = re.compile(r"\b\d{4}\b")
_VERSION = re.compile(r"\d+(?:\.\d+)+")
_PARENS = re.compile(r"\([^)]*\)")


def family_key(row: dict[str, Any]) -> str:
    slug = aa_key(row["slug"])
    creator = AA_CREATORS.get(row["creator"]["slug"])
    if creator == "alibaba":
        # Qwen ships separate Instruct and Thinking weights: AA's "-reasoning" row is the Thinking model.
        slug = re.sub(r"-instruct(?=-|$)", "", slug)
        thinking = bool(re.search(r"-reasoning(-(low|medium|high))?$", slug))
        slug = re.sub(r"-reasoning(-(low|medium|high))?$", "", slug)
    else:
        thinking = False
    prev = None
    while prev != slug:
        prev = slug
        slug = _EFFORT.sub("", slug)
        if creator == "anthropic":
            slug = _ANTHROPIC_EXTRA.sub("", slug)
    return slug + "-thinking" if thinking else slug


def _alternates(creator: str, name: str) -> list[str]:
    keys = [aa_key(name)]
    if creator == "anthropic":
        m = re.fullmatch(r"claude-(opus|sonnet|haiku)-(\d)(?:\.(\d))?", name)
        if m:  # AA writes "claude-4-5-haiku", "claude-4-opus"
            keys.append(f"claude-{m[2]}-{m[3]}-{m[1]}" if m[3] else f"claude-{m[2]}-{m[1]}")
    if creator == "meta":
        m = re.fullmatch(r"llama-(\d)\.(\d)-(\d+b)(-vision)?", name)
        if m:
            keys.append(f"llama-{m[1]}-{m[2]}-instruct-{m[3]}{m[4] or ''}")
    if creator == "nvidia":
        keys.append("nvidia-" + aa_key(name))  # AA: "nvidia-nemotron-3-super-120b-a12b"
    if creator == "amazon":
        keys.append(re.sub(r"^nova-(\d)-", r"nova-\1-0-", aa_key(name)))
    return keys


@dataclass(frozen=True)
class AAMatch:
    score: float | None  # rounded index, None when no row of the family has one
    score_slug: str | None
    fact_row: dict[str, Any]  # row used for release date / open weights

    @property
    def fact_slug(self) -> str:
        return str(self.fact_row["slug"])


class ArtificialAnalysis:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.by_slug = {r["slug"]: r for r in rows}
        self.families: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in sorted(rows, key=lambda r: r["slug"]):
            creator = AA_CREATORS.get(r["creator"]["slug"])
            if creator:
                self.families[(creator, family_key(r))].append(r)

    def _rows(self, creator: str, name: str) -> list[dict[str, Any]]:
        if (creator, name) in AA_OVERRIDES:
            return [self.by_slug[s] for s in AA_OVERRIDES[(creator, name)] if s in self.by_slug]
        mode = None
        base = name
        # xAI ships reasoning / non-reasoning ids of one model; AA has a row for each mode.
        for suffix, m in (("-non-reasoning", "non"), ("-reasoning", "reason")):
            if creator == "xai" and name.endswith(suffix):
                base, mode = name[: -len(suffix)], m
                break
        for key in _alternates(creator, base):
            rows = self.families.get((creator, key))
            if not rows:
                continue
            kept = []
            for r in rows:
                label = r["name"]
                if _MONTH_QUALIFIER.search(label):
                    continue
                if any(code not in name for code in _CODE.findall(label)):
                    continue
                # "Qwen2.5 Turbo" is not qwen-turbo: every version in the display name must be in ours.
                versions = _VERSION.findall(_PARENS.sub("", label))
                if any(
                    v not in name and aa_key(v) not in aa_key(name) and v.removesuffix(".0") not in name
                    for v in versions
                ):
                    continue
                non = "non-reasoning" in label.lower()
                if (mode == "non" and not non) or (mode == "reason" and non):
                    continue
                kept.append(r)
            return kept
        return []

    def match(self, creator: str, name: str) -> AAMatch | None:
        rows = self._rows(creator, name)
        if not rows:
            return None
        scored = [
            r for r in rows if r["evaluations"].get("artificial_analysis_intelligence_index") is not None
        ]
        best = max(
            scored,
            key=lambda r: (r["evaluations"]["artificial_analysis_intelligence_index"], r["slug"]),
            default=None,
        )
        base = next((r for r in rows if aa_key(r["slug"]) == aa_key(name)), None)
        fact = base or best or rows[0]
        if best is None:
            return AAMatch(None, None, fact)
        score = round(float(best["evaluations"]["artificial_analysis_intelligence_index"]), 1)
        return AAMatch(score, best["slug"], fact)
