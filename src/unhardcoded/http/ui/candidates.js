// A decision's candidates, as the receipt and the dry run show them: the ranked ones as a table (rank keys,
// estimated cost, plan), the rejected ones grouped by the first rule that rejected them, with counts and
// every failed rule highlighted. Shared by receipt.js and dryrun.js.
import { h, money, plain, table, ruleTest } from "/ui/dom.js";

function show(v) {
  if (v === null || v === undefined) return "missing";
  if (typeof v === "number") return plain(v);
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function rulesTable(rules, caption) {
  return table(
    caption,
    ["Rule", "Source", "Test", "Rejected"],
    rules.map((r) =>
      h(
        "tr",
        { class: r.rejected ? "fired" : null, "data-rule": r.id },
        h("th", { scope: "row" }, h("code", null, r.id)),
        h("td", null, r.source),
        h("td", null, h("code", null, ruleTest(r))),
        h("td", { class: "num" }, String(r.rejected ?? 0)),
      ),
    ),
    { class: "grid rules" },
  );
}

function rankedTable(ranked) {
  const keys = [];
  for (const c of ranked) for (const k of Object.keys(c.rank_values || {})) if (!keys.includes(k)) keys.push(k);
  return table(
    `Passed: ${ranked.length}, in rank order`,
    ["#", "Deployment", "Status", ...keys, "Est. cost", "In plan"],
    ranked.map((c) =>
      h(
        "tr",
        { class: "st-" + c.status, "data-deployment": c.deployment },
        h("td", { class: "num" }, String(c.rank)),
        h("th", { scope: "row", class: "dep" }, c.deployment),
        h("td", null, c.status),
        keys.map((k) => h("td", { class: "num" }, show(c.rank_values?.[k]))),
        h("td", { class: "num" }, money(c.est_cost_usd)),
        h("td", null, c.planned ? "yes" : "no"),
      ),
    ),
    { class: "grid", id: "ranked" },
  );
}

function rejectedGroup(ruleId, members, rule, open) {
  const test = rule ? ruleTest(rule) : ruleTest(members[0].rejected_by[0]);
  const rows = members.map((c) =>
    h(
      "tr",
      { "data-deployment": c.deployment },
      h("th", { scope: "row", class: "dep" }, c.deployment),
      h(
        "td",
        null,
        h(
          "ul",
          { class: "failed" },
          c.rejected_by.map((f) =>
            h(
              "li",
              { class: "fail" },
              h("code", null, f.rule_id),
              `: ${f.field} was ${show(f.actual)}, needs ${f.op} ${show(f.expected)}`,
            ),
          ),
        ),
      ),
      h("td", { class: "num" }, money(c.est_cost_usd)),
    ),
  );
  return h(
    "details",
    { class: "group", "data-rule": ruleId, open: open || null },
    h(
      "summary",
      null,
      h("code", null, ruleId),
      ` ${test} — `,
      h("strong", { class: "count" }, String(members.length)),
      ` rejected`,
    ),
    table(null, ["Deployment", "Failed rules (value found, value needed)", "Est. cost"], rows, { class: "grid" }),
  );
}

export function candidatesSection(decision) {
  const cands = decision.candidates || [];
  const ranked = cands.filter((c) => c.status !== "rejected").sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9));
  const groups = new Map();
  for (const c of cands.filter((c) => c.status === "rejected")) {
    const first = c.rejected_by?.[0]?.rule_id || "(unknown)";
    if (!groups.has(first)) groups.set(first, []);
    groups.get(first).push(c);
  }
  const rules = new Map((decision.rules || []).map((r) => [r.id, r]));
  const order = [...groups.keys()].sort((a, b) => groups.get(b).length - groups.get(a).length || a.localeCompare(b));
  const rejected = cands.length - ranked.length;
  return h(
    "section",
    { class: "candidates", "aria-labelledby": "cand-h" },
    h("h2", { id: "cand-h" }, `Candidates: ${cands.length}, ${ranked.length} passed, ${rejected} rejected`),
    ranked.length ? rankedTable(ranked) : h("p", null, "No deployment passed every rule."),
    order.length ? h("h3", null, "Rejected, grouped by the first rule each failed (open a group for its deployments)") : null,
    order.map((id) => rejectedGroup(id, groups.get(id), rules.get(id), order.length === 1)),
  );
}
