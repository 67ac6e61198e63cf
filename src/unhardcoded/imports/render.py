"""A Conversion as the YAML file the user keeps: the config, then what was not carried over, as comments."""

from __future__ import annotations

from typing import Any

import yaml

from unhardcoded.imports.litellm import Conversion


class _NoAliases(yaml.SafeDumper):
    """Repeat shared values instead of writing YAML anchors: the file is read by people."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_yaml(conv: Conversion, *, source: str) -> str:
    """Our config as YAML, headed by how to call it and followed by the not-converted list."""
    head = [
        f"# Converted from the LiteLLM proxy config {source} by `unhardcoded import litellm`.",
        '# Each LiteLLM model group is a policy of the same name: send model "policy:GROUP" (or the',
        "# header x-unhardcoded-policy: GROUP); it tries the group's deployments, then its fallbacks,",
        "# in LiteLLM's order (the litellm_order_* fields). Keys are read from the variables named here.",
    ]
    body = yaml.dump(conv.config, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=110)
    return "\n".join(head) + "\n" + body + "".join(comment_block(conv))


def comment_block(conv: Conversion) -> list[str]:
    lines: list[str] = []
    for title, items in (
        ("Not converted (no equivalent here; nothing else was dropped)", conv.not_converted),
        ("Converted approximately (read these)", conv.notes),
    ):
        if items:
            lines.append(f"#\n# {title}:\n")
            lines += [f"#   - {item}\n" for item in items]
    return lines or ["#\n# Everything in the LiteLLM config was converted.\n"]


def summary(conv: Conversion) -> list[str]:
    """Plain lines for the terminal: each policy and its attempt order, then the lists."""
    out = [
        f"{len(conv.chains)} policies, {len(conv.config['catalog']['deployments'])} deployments,"
        f" {len(conv.config['providers'])} providers"
    ]
    for name, chain in conv.chains.items():
        out.append(f"  policy:{name} -> {' > '.join(chain)}")
    for title, items in (("not converted", conv.not_converted), ("converted approximately", conv.notes)):
        if items:
            out.append(f"{title}:")
            out += [f"  - {item}" for item in items]
    return out
