"""The one plain sentence that says why: built only from the decision (and, after the call, the outcome)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from unhardcoded.policy.decision import Decision


def _first_key_phrase(decision: Decision) -> str:
    key = decision.policy.rank[0]
    if key.by in ("est_cost_usd", "price_blended_per_mtok", "price_input_per_mtok", "price_output_per_mtok"):
        return "cheapest" if key.order == "asc" else "priciest"
    return f"{'lowest' if key.order == 'asc' else 'highest'} {key.by}"


def explain(
    decision: Decision,
    *,
    winner: str | None = None,
    baseline: str | None = None,
    savings_pct: float | None = None,
    fallbacks: int = 0,
) -> str:
    """E.g. "gemini/gemini-2.5-flash won: cheapest of 7 that passed 4 rules; 31 rejected — 18 by
    quality-floor, 9 by eu-only, 4 by req:tools; 62% cheaper than openai/gpt-4.1"."""
    n_rules = len(decision.rules)
    middle = decision._derived.get("explain")  # the part that depends on the decision alone
    if middle is None:
        _, first = decision.rejection_counts()
        by = ", ".join(f"{n} by {rid}" for rid, n in sorted(first.items(), key=lambda kv: (-kv[1], kv[0])))
        rejected = f"{decision.n_rejected} rejected" + (f" — {by}" if by else "")
        if not decision.ranked:
            middle = f"no deployment passed {n_rules} rules: {rejected}"
        else:
            passed = len(decision.ranked)
            middle = f"{_first_key_phrase(decision)} of {passed} that passed {n_rules} rules; {rejected}"
            if decision.waived:
                middle += f"; {', '.join(decision.waived)} waived (it would have left no candidate)"
        decision._derived["explain"] = middle
    if not decision.ranked:
        return str(middle)
    top = winner or decision.plan[0]
    sentence = f"{top} {'won' if winner else 'ranked first'}: {middle}"
    if fallbacks:
        sentence += f"; after {fallbacks} fallback{'s' if fallbacks > 1 else ''}"
    if savings_pct is not None and baseline:
        if savings_pct >= 0:
            sentence += f"; {savings_pct:.0f}% cheaper than {baseline}"
        else:
            sentence += f"; {-savings_pct:.0f}% dearer than {baseline}"
    return sentence
