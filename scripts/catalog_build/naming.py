"""Model-name normalisation: one `creator/name` string per model, whichever provider serves it.

The rules are deliberately explicit. A name that cannot be normalised (unknown organisation,
odd characters) yields None and the deployment is skipped rather than guessed.
"""

from __future__ import annotations

import re

# Organisation prefixes seen in upstream ids ("meta-llama/Llama-3.3-70B", "qwen.qwen3-32b") -> creator.
ORG_CREATORS: dict[str, str] = {
    "ai21": "ai21",
    "amazon": "amazon",
    "anthropic": "anthropic",
    "bytedance": "bytedance",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "deepseek-ai": "deepseek",
    "google": "google",
    "meta": "meta",
    "meta-llama": "meta",
    "meta-models": "meta",
    "microsoft": "microsoft",
    "minimax": "minimax",
    "minimaxai": "minimax",
    "mistral": "mistral",
    "mistralai": "mistral",
    "moonshot": "moonshot",
    "moonshotai": "moonshot",
    "nvidia": "nvidia",
    "openai": "openai",
    "perplexity": "perplexity",
    "qwen": "alibaba",
    "thinkingmachines": "thinkingmachines",
    "writer": "writer",
    "xai": "xai",
    "xiaomimimo": "xiaomi",
    "zai": "zai",
    "zai-org": "zai",
}

# Bedrock model ids start with a vendor segment: "anthropic.claude-...", "meta.llama3-...".
BEDROCK_VENDORS = frozenset(
    {
        "ai21",
        "amazon",
        "anthropic",
        "cohere",
        "deepseek",
        "google",
        "meta",
        "minimax",
        "mistral",
        "moonshot",
        "moonshotai",
        "nvidia",
        "openai",
        "qwen",
        "twelvelabs",
        "writer",
        "xai",
        "zai",
    }
)

# Bedrock cross-region inference-profile prefixes ("eu.anthropic.claude-...").
BEDROCK_PROFILES = ("us-gov", "us", "eu", "apac", "jp", "au", "in", "global")

# Bare names (first-party APIs) -> creator. First match wins.
_NAME_CREATORS: tuple[tuple[str, str], ...] = (
    (r"^(gpt-|o\d|chatgpt)", "openai"),
    (r"^claude", "anthropic"),
    (r"^(gemini|gemma)", "google"),
    (r"^(llama|muse)", "meta"),
    (r"^(mistral|ministral|magistral|codestral|devstral|pixtral|voxtral|mixtral|open-mistral)", "mistral"),
    (r"^deepseek", "deepseek"),
    (r"^grok", "xai"),
    (r"^(qwen|qwq|qvq)", "alibaba"),
    (r"^(kimi|moonshot)", "moonshot"),
    (r"^glm", "zai"),
    (r"^minimax", "minimax"),
    (r"^(nova|titan)", "amazon"),
    (r"^(command|c4ai|aya|north-)", "cohere"),
    (r"^(nemotron|nvidia)", "nvidia"),
    (r"^(phi-|mai-)", "microsoft"),
    (r"^jamba", "ai21"),
    (r"^inkling", "thinkingmachines"),
    (r"^mimo", "xiaomi"),
    (r"^seed-", "bytedance"),
    (r"^sonar", "perplexity"),
)

# Exact-name aliases applied after the generic rules. Each ties an API id to the name the vendor
# markets (and that Artificial Analysis / OpenRouter / models.dev use for the same weights).
MODEL_ALIASES: dict[str, str] = {
    # Mistral API ids carry a YYMM code; AA's openrouter_api_id and models.dev tie them to the names.
    "mistral-small-2603": "mistral-small-4",
    "mistral-small-2503": "mistral-small-3.1",
    "mistral-small-24b-2501": "mistral-small-3",
    "mistral-small-3.2-24b-2506": "mistral-small-3.2",
    "mistral-medium-2604": "mistral-medium-3.5",
    "mistral-medium-2505": "mistral-medium-3",
    "mistral-large-2512": "mistral-large-3",
    "mistral-large-3-675b": "mistral-large-3",
    "mistral-large-4.0": "mistral-large-4",
    "ministral-3b-2512": "ministral-3-3b",
    "ministral-3-3b-2512": "ministral-3-3b",
    "ministral-8b-2512": "ministral-3-8b",
    "ministral-3-8b-2512": "ministral-3-8b",
    "ministral-14b-2512": "ministral-3-14b",
    "ministral-3-14b-2512": "ministral-3-14b",
    "devstral-2512": "devstral-2",
    "devstral-2-123b": "devstral-2",
    "magistral-small-2509": "magistral-small-1.2",
    "mistral-nemo-2407": "mistral-nemo",
    "open-mistral-nemo": "mistral-nemo",
    # DeepSeek: the V4 Pro alias serves the 0813 weights (same price as AA's "V4 Pro 0813" row);
    # V4.1 Flash has a single release (1017).
    "deepseek-v4-pro-0813": "deepseek-v4-pro",
    "deepseek-v4.1-flash-1017": "deepseek-v4.1-flash",
    # Cohere ids carry MM-YYYY.
    "command-a-03-2025": "command-a",
    "command-a-plus-05-2026": "command-a-plus",
}

# Bedrock ids that do not spell the version: models.dev amazon-bedrock/models/deepseek.v3-v1:0.toml
# names this model "DeepSeek-V3.1".
BEDROCK_ALIASES: dict[str, str] = {"deepseek-v3": "deepseek-v3.1"}

# Model generations released before 2024-06 whose ids no dated source spells the same way (so the
# release-date rule cannot catch them): Bedrock Titan/Jurassic/Claude 1-2/Llama 2-3.0/Command,
# early Mistral and GPT-4 previews.
LEGACY = re.compile(
    r"^(titan-|j2-|jamba$|claude$|claude-instant|claude-v?2|llama-?v?2|llama-?v?3-(8b|70b|405b)"
    r"|command-(text|light)|mistral-(large|small)-2402|gpt-4-(0125|1106)|gpt-4-turbo|gpt-3\.5"
    r"|codestral-2405|mistral-7b|mixtral-8x7b|sonar-(small|medium))"
)

_NAME_OK = re.compile(r"[a-z0-9][a-z0-9.\-]*")
_HOST_VARIANT = re.compile(r"-(turbo|fp8|fp4|tput|bf16|ultra|basic)(?=-|$)")


def split_org(upstream: str, provider: str) -> tuple[str | None, str]:
    """Split an upstream id into (organisation prefix or None, model part)."""
    s = upstream
    for prefix in ("accounts/fireworks/models/", "accounts/fireworks/routers/"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    if provider == "bedrock":
        head, _, rest = s.partition(".")
        if head in BEDROCK_PROFILES and rest:
            head, _, rest = rest.partition(".")
        if rest and head.lower() in BEDROCK_VENDORS:
            return head.lower(), rest
        return None, s
    if "/" in s:
        org, _, rest = s.rpartition("/")
        return org.lower(), rest
    return None, s


def creator_for(org: str | None, name: str) -> str | None:
    """The lab that trained the model: from the organisation prefix, else from the name."""
    if org is not None:
        return ORG_CREATORS.get(org)
    for pattern, creator in _NAME_CREATORS:
        if re.match(pattern, name):
            return creator
    return None


def _strip_suffixes(s: str, provider: str) -> str:
    s = re.sub(r"@(\d{4})(-\d{3})?$", r"-\1", s)  # Vertex "mistral-large@2407" -> "mistral-large-2407"
    patterns = [r"@default$", r"@20\d{6}$", r"@\d{3}$", r"-maas$", r"-20\d\d-\d\d-\d\d$", r"-20\d{6}$"]
    if provider == "bedrock":
        patterns += [r"-v\d+:\d+$", r"-v1$", r"-\d+:\d+$", r":\d+$"]
    changed = True
    while changed:
        changed = False
        for p in patterns:
            new = re.sub(p, "", s)
            if new != s:
                s, changed = new, True
    return s


def _family_rules(s: str, creator: str) -> str:
    s = re.sub(r"-instruct(?=-|$)", "", s)
    if s.startswith("gemma"):
        s = re.sub(r"-it(?=-|$)", "", s)
    s = re.sub(r"^meta-llama-", "llama-", s)
    s = re.sub(r"^llama-?v?(\d)[.-](\d)-", r"llama-\1.\2-", s)
    s = re.sub(r"^llama-?v?4-(maverick|scout)(-17b)?(-\d+e)?", r"llama-4-\1", s)
    s = re.sub(r"^claude-(\d)-(\d)-", r"claude-\1.\2-", s)
    s = re.sub(r"^claude-(opus|sonnet|haiku|fable|mythos)-(\d+)-(\d)(?=$|-)", r"claude-\1-\2.\3", s)
    s = re.sub(r"^claude-4-(opus|sonnet)$", r"claude-\1-4", s)  # DeepInfra "claude-4-opus"
    s = re.sub(r"^glm-(\d)-(\d)(?=$|-flash|-air)", r"glm-\1.\2", s)
    s = re.sub(r"^grok-(\d)-(\d+)(?=$|-)", r"grok-\1.\2", s)
    s = re.sub(r"^qwen-v?(\d)", r"qwen\1", s)
    s = re.sub(r"^(mistral-(?:large|medium|small))-(\d)-(\d)$", r"\1-\2.\3", s)
    s = re.sub(r"^jamba-(\d)-(\d)-", r"jamba-\1.\2-", s)
    s = re.sub(r"^nvidia-(?=nemotron)", "", s)
    if creator == "deepseek" and not s.startswith("deepseek"):
        s = "deepseek-" + s
    s = re.sub(r"^deepseek-v(\d)-(\d)(?=-[a-z])", r"deepseek-v\1.\2", s)
    return s


def normalize(upstream: str, provider: str) -> tuple[str, str] | None:
    """(creator, canonical name) for an upstream model id on a provider, or None if unknown."""
    org, rest = split_org(upstream, provider)
    s = rest.lower()
    if provider == "fireworks":
        s = re.sub(r"(\d)p(\d)", r"\1.\2", s)
    s = re.sub(r"^(fw-|zai-(?=glm)|cohere-(?=command))", "", s)
    s = _strip_suffixes(s, provider)
    creator = creator_for(org, s)
    if creator is None:
        return None
    if provider in (
        "together",
        "deepinfra",
        "fireworks",
        "sambanova",
        "nebius",
        "novita",
        "hyperbolic",
        "baseten",
    ):
        s = _HOST_VARIANT.sub("", s)
    if provider == "fireworks":
        s = re.sub(r"-us$", "", s)  # US-pinned router: the region is recorded, not part of the name
    s = _family_rules(s, creator)
    if provider == "bedrock":
        s = BEDROCK_ALIASES.get(s, s)
    s = MODEL_ALIASES.get(s, s)
    if not _NAME_OK.fullmatch(s) or LEGACY.match(s):
        return None
    return creator, s


def normalize_openrouter(or_id: str) -> tuple[str, str] | None:
    """(creator, canonical name) for an OpenRouter model id such as 'meta-llama/llama-3.3-70b-instruct'."""
    if ":" in or_id or "/" not in or_id:
        return None
    org, _, name = or_id.partition("/")
    org = {"x-ai": "xai", "z-ai": "zai", "mistralai": "mistral"}.get(org, org)
    if org not in ORG_CREATORS:
        return None
    return normalize(f"{org}/{name}", "openrouter")


def aa_key(name: str) -> str:
    """Artificial Analysis slugs use dashes where vendors write dots: gpt-5.6-terra -> gpt-5-6-terra."""
    return name.replace(".", "-")
