// Savings (GET /x/rollup): cost against baseline and savings per group (workload, day, deployment,
// fingerprint), per workload over time (series=1), and the pricier candidates that were passed over.
// Money arrives as exact decimal strings and is shown as such; charts only scale by its float value.
import { api, h, money, notice, pct, s, table, usd } from "/ui/dom.js";
import { hashFor } from "/ui/app.js";

const BY = ["workload", "day", "deployment", "fingerprint"];

function form(params) {
  const by = params.get("by") || "workload";
  const f = h(
    "form",
    { class: "filters", "aria-label": "Roll-up period and grouping" },
    h(
      "div",
      { class: "field" },
      h("label", { for: "r-by" }, "Group by"),
      h("select", { id: "r-by", name: "by" }, BY.map((b) => h("option", { value: b, selected: b === by }, b))),
    ),
    ["since", "until", "workload"].map((n) =>
      h(
        "div",
        { class: "field" },
        h("label", { for: "r-" + n }, n === "workload" ? "Workload" : `${n[0].toUpperCase()}${n.slice(1)} (ISO 8601 or 30d)`),
        h("input", { id: "r-" + n, name: n, value: params.get(n) || "", autocomplete: "off" }),
      ),
    ),
    h("div", { class: "field actions" }, h("button", { type: "submit" }, "Show")),
  );
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = hashFor("savings", "", Object.fromEntries(new FormData(f).entries()));
  });
  return f;
}

// Horizontal pairs of bars: cost and baseline for each label.
function pairChart(rows, label, title) {
  const max = Math.max(1e-18, ...rows.flatMap((r) => [Number(r.cost_usd || 0), Number(r.baseline_cost_usd || 0)]));
  const W = 420;
  const L = 220;
  const rowH = 46;
  return s(
    "svg",
    { viewBox: `0 0 ${L + W + 140} ${rows.length * rowH + 26}`, class: "bars", role: "img", "aria-label": title },
    s("rect", { x: L, y: 4, width: 12, height: 12, class: "cost" }),
    s("text", { x: L + 16, y: 14, class: "lbl" }, "cost"),
    s("rect", { x: L + 70, y: 4, width: 12, height: 12, class: "base" }),
    s("text", { x: L + 86, y: 14, class: "lbl" }, "baseline"),
    rows.map((r, i) => {
      const y = 24 + i * rowH;
      const c = Number(r.cost_usd || 0);
      const b = Number(r.baseline_cost_usd || 0);
      return s(
        "g",
        null,
        s("text", { x: 0, y: y + 24, class: "lbl" }, label(r)),
        s("rect", { x: L, y, width: Math.max(1, (W * c) / max), height: 18, class: "cost" }),
        s("text", { x: L + 6 + (W * c) / max, y: y + 14, class: "val" }, usd(r.cost_usd)),
        s("rect", { x: L, y: y + 20, width: Math.max(1, (W * b) / max), height: 18, class: "base" }),
        s("text", { x: L + 6 + (W * b) / max, y: y + 34, class: "val" }, usd(r.baseline_cost_usd)),
      );
    }),
  );
}

function groupRow(by, g) {
  const key = g[by] ?? "—";
  const name = by === "fingerprint" && g[by] ? h("a", { href: hashFor("audit", "", { fingerprint: g[by] }) }, key) : key;
  return h(
    "tr",
    { "data-group": key },
    h("th", { scope: "row" }, name),
    h("td", { class: "num" }, String(g.calls)),
    h("td", { class: "num", "data-col": "cost" }, money(g.cost_usd)),
    h("td", { class: "num", "data-col": "baseline" }, money(g.baseline_cost_usd)),
    h("td", { class: "num", "data-col": "savings" }, money(g.savings_usd)),
    h("td", { class: "num" }, pct(g.savings_pct)),
    h("td", { class: "num" }, String(g.fallback_calls)),
    h("td", { class: "num" }, String(g.no_route + g.errors)),
  );
}

function passedOver(by, groups) {
  const rows = [];
  for (const g of groups) {
    for (const p of g.passed_over || []) {
      rows.push(
        h(
          "tr",
          null,
          h("th", { scope: "row" }, String(g[by] ?? "—")),
          h("td", { class: "dep" }, p.deployment),
          h("td", { class: "num" }, String(p.calls)),
          h("td", { class: "num" }, money(p.would_cost_usd)),
          h("td", { class: "num" }, money(p.chosen_cost_usd)),
          h("td", { class: "num" }, money(p.extra_usd)),
        ),
      );
    }
  }
  if (!rows.length) return notice("No pricier candidate passed the policy in this period.");
  return table(
    "Pricier candidates that passed the policy but were passed over: what they would have cost on the same usage",
    [by, "Passed over", "Calls", "Would have cost", "Chosen cost", "Extra avoided"],
    rows,
    { class: "grid", id: "passed-over" },
  );
}

// Spend caps (GET /x/budgets): what each has spent in its current period and what is left.
async function budgets() {
  const doc = await api("/x/budgets");
  if (!doc.budgets.length) return null;
  return h(
    "section",
    { "aria-labelledby": "b-h" },
    h("h2", { id: "b-h" }, "Budgets"),
    table(
      null,
      ["Budget", "Workload", "Tenant", "Period from", "Cap", "Spent", "Left", "Used"],
      doc.budgets.map((b) =>
        h(
          "tr",
          { "data-budget": b.id },
          h("th", { scope: "row" }, b.id),
          h("td", null, b.workload || "every workload"),
          h("td", null, b.tenant || "every tenant"),
          h("td", null, `${b.period}, since ${b.since}`),
          h("td", { class: "num" }, money(b.cap_usd)),
          h("td", { class: "num", "data-col": "spent" }, money(b.spent_usd)),
          h("td", { class: "num", "data-col": "left" }, money(b.left_usd)),
          h("td", null, h("meter", { min: 0, max: b.cap_usd, value: b.spent_usd, "aria-label": `${b.id}: ${usd(b.spent_usd)} spent of ${usd(b.cap_usd)}` })),
        ),
      ),
      { class: "grid", id: "budgets" },
    ),
  );
}

export async function savingsView(out, _arg, params) {
  out.append(h("h1", { tabindex: "-1" }, "Savings"), form(params));
  const by = params.get("by") || "workload";
  const q = new URLSearchParams({ by, series: "1" });
  for (const n of ["since", "until", "workload"]) if (params.get(n)) q.set(n, params.get(n));
  const doc = await api("/x/rollup?" + q.toString());
  const t = doc.totals || {};
  out.append(
    h(
      "p",
      { class: "explanation", id: "savings-total" },
      `${t.calls} calls from ${doc.since} to ${doc.until}: cost ${usd(t.cost_usd)} against a baseline of ${usd(t.baseline_cost_usd)}, saving ${usd(t.savings_usd)} (${pct(t.savings_pct)}).`,
    ),
  );
  if (!doc.groups.length) {
    out.append(notice("No calls in this period."), await budgets());
    return;
  }
  out.append(
    h(
      "section",
      { "aria-labelledby": "g-h" },
      h("h2", { id: "g-h" }, `Per ${by}`),
      pairChart(doc.groups, (g) => String(g[by] ?? "—").slice(0, 30), `cost against baseline per ${by}; the table below has the same numbers`),
      table(
        null,
        [by, "Calls", "Cost", "Baseline", "Savings", "Saved", "Fallback calls", "Failed"],
        doc.groups.map((g) => groupRow(by, g)),
        { class: "grid", id: "groups" },
      ),
    ),
  );
  const series = doc.series || [];
  if (series.length) {
    const label = (r) => `${r.day} ${r.workload}`;
    out.append(
      h(
        "section",
        { "aria-labelledby": "t-h" },
        h("h2", { id: "t-h" }, "Per workload over time"),
        pairChart(series, label, "cost against baseline per day and workload; the table below has the same numbers"),
        table(
          null,
          ["Day, workload", "Calls", "Cost", "Baseline", "Savings", "Saved", "Fallback calls", "Failed"],
          series.map((r) => groupRow("_", { ...r, _: label(r) })),
          { class: "grid", id: "series" },
        ),
      ),
    );
  }
  out.append(h("section", { "aria-labelledby": "p-h" }, h("h2", { id: "p-h" }, "Passed over"), passedOver(by, doc.groups)));
  out.append(await budgets());
}
