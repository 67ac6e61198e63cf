// Audit (GET /x/audit): per policy fingerprint, its rules and what each excluded, by region and by
// capability; for one call (request_id), the proof that each rule was enforced.
import { ApiError, api, dl, h, link, notice, ruleTest, table } from "/ui/dom.js";
import { hashFor } from "/ui/app.js";

const FIELDS = [
  ["fingerprint", "Policy fingerprint"],
  ["since", "Since (ISO 8601 or 30d)"],
  ["until", "Until"],
  ["request_id", "Or one call: request id"],
  ["rule", "Only this rule id"],
];

function form(params) {
  const f = h(
    "form",
    { class: "filters", "aria-label": "What to audit" },
    FIELDS.map(([n, label]) =>
      h(
        "div",
        { class: "field" },
        h("label", { for: "a-" + n }, label),
        h("input", { id: "a-" + n, name: n, value: params.get(n) || "", autocomplete: "off", spellcheck: "false" }),
      ),
    ),
    h("div", { class: "field actions" }, h("button", { type: "submit" }, "Audit")),
  );
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = hashFor("audit", "", Object.fromEntries(new FormData(f).entries()));
  });
  return f;
}

function counts(title, obj) {
  const rows = Object.entries(obj || {}).map(([k, v]) => h("tr", null, h("th", { scope: "row" }, k), h("td", { class: "num" }, String(v))));
  return table(title, [title.split(" ").pop(), "Deployments"], rows, { class: "grid small" });
}

function ruleBlock(r) {
  return h(
    "details",
    { class: "group", "data-rule": r.rule_id },
    h("summary", null, h("code", null, r.rule_id), ` ${r.test} — bit ${r.calls} calls, excluded `, h("strong", { class: "count" }, String(r.excluded)), " deployments"),
    r.excluded ? h("div", { class: "split" }, counts("Excluded by region", r.by_region), counts("Excluded by capability", r.by_capability)) : h("p", null, "It excluded nothing in this period."),
    r.deployments && r.deployments.length
      ? table(
          "Deployments excluded (value found at the newest decision)",
          ["Deployment", "Region", "Value"],
          r.deployments.map((d) => h("tr", null, h("th", { scope: "row", class: "dep" }, d.deployment), h("td", null, d.region ?? "—"), h("td", null, JSON.stringify(d.actual ?? null)))),
          { class: "grid" },
        )
      : null,
  );
}

function policyBlock(p) {
  return h(
    "section",
    { class: "policy-audit", "data-fingerprint": p.fingerprint },
    h("h2", null, h("code", null, p.fingerprint), p.name ? ` (${p.name})` : ""),
    dl([
      ["Calls", String(p.calls)],
      ["Statuses", Object.entries(p.statuses || {}).map(([k, v]) => `${k}: ${v}`).join(", ")],
      ["Workloads", Object.keys(p.workloads || {}).join(", ") || "—"],
      ["Distinct decisions", String(p.distinct_decisions)],
      ["Policy rules", (p.canonical_rules || []).map((r) => `${r.id}: ${ruleTest(r)}`).join("; ") || "none"],
    ]),
    (p.rules || []).map(ruleBlock),
  );
}

function proof(doc) {
  return [
    h(
      "p",
      { class: doc.enforced ? "verdict same" : "verdict changed", id: "proof-verdict" },
      doc.enforced ? "Enforced: every rule held on this call." : "Not proven: see below.",
    ),
    dl([
      ["Request", link(hashFor("receipt", doc.request_id), doc.request_id)],
      ["Fingerprint", h("code", null, doc.fingerprint)],
      ["Decision hash verified", doc.hash_verified ? "yes" : "no"],
      ["Rebuilt identically", doc.rebuilt_identical ? "yes" : "no"],
    ]),
    table(
      "Each rule on this call",
      ["Rule", "Test", "Evaluated on", "Excluded", "Winner", "Winner's value", "Winner passed"],
      (doc.rules || []).map((r) =>
        h(
          "tr",
          { "data-rule": r.rule_id },
          h("th", { scope: "row" }, h("code", null, r.rule_id)),
          h("td", null, ruleTest(r)),
          h("td", { class: "num" }, String(r.evaluated_on)),
          h("td", { class: "num" }, String(r.excluded_count)),
          h("td", { class: "dep" }, r.winner || "—"),
          h("td", null, JSON.stringify(r.winner_value ?? null)),
          h("td", null, r.winner_passed === null ? "—" : r.winner_passed ? "yes" : "NO"),
        ),
      ),
      { class: "grid", id: "proof" },
    ),
    (doc.rules || [])
      .filter((r) => r.excluded_count)
      .map((r) =>
        h(
          "details",
          { class: "group", "data-rule": r.rule_id },
          h("summary", null, h("code", null, r.rule_id), " excluded ", h("strong", { class: "count" }, String(r.excluded_count)), ` (${ruleTest(r)})`),
          h("ul", null, r.excluded.map((e) => h("li", null, h("span", { class: "dep" }, e.deployment), ` in ${e.region ?? "—"}: ${JSON.stringify(e.actual ?? null)}`))),
        ),
      ),
  ];
}

export async function auditView(out, _arg, params) {
  out.append(h("h1", { tabindex: "-1" }, "Audit"), form(params));
  const q = new URLSearchParams();
  for (const [n] of FIELDS) if (params.get(n)) q.set(n, params.get(n));
  let doc;
  try {
    doc = await api("/x/audit?" + q.toString());
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && !e.param) {
      out.append(notice("This view needs GET /x/audit, which this gateway does not serve yet. `unhardcoded audit` gives the same answer from the command line.", "error"));
      return;
    }
    throw e;
  }
  if (doc.request_id && doc.rules && !doc.policies) {
    out.append(...proof(doc).flat());
    return;
  }
  const policies = doc.policies || [];
  out.append(h("p", { class: "sub", role: "status" }, `${doc.receipts ?? 0} receipts read, ${policies.length} policies`));
  if (!policies.length) out.append(notice("No calls in this period."));
  out.append(...policies.map(policyBlock));
}
