// Search: recent calls (GET /x/traces), filtered and paged; each row links to its receipt and its trace.
import { api, badge, h, isoAt, link, money, ms, notice, table, when } from "/ui/dom.js";
import { hashFor } from "/ui/app.js";

const FILTERS = [
  ["workload", "Workload"],
  ["deployment", "Deployment"],
  ["fingerprint", "Policy fingerprint"],
  ["since", "Since (ISO 8601)"],
  ["until", "Until (ISO 8601)"],
];
const STATUSES = ["", "ok", "partial", "error", "no_route", "incomplete", "started"];
const PAGE = 50;

function form(params) {
  const fields = FILTERS.map(([name, label]) =>
    h(
      "div",
      { class: "field" },
      h("label", { for: "f-" + name }, label),
      h("input", { id: "f-" + name, name, value: params.get(name) || "", autocomplete: "off", spellcheck: "false" }),
    ),
  );
  const status = h(
    "select",
    { id: "f-status", name: "status" },
    STATUSES.map((st) => h("option", { value: st, selected: (params.get("status") || "") === st }, st || "any")),
  );
  const f = h(
    "form",
    { class: "filters", "aria-label": "Filter calls" },
    fields,
    h("div", { class: "field" }, h("label", { for: "f-status" }, "Status"), status),
    h("div", { class: "field actions" }, h("button", { type: "submit" }, "Search")),
  );
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(f).entries());
    location.hash = hashFor("search", "", data);
  });
  return f;
}

function row(r) {
  const trace = r.workflow_id
    ? link(hashFor("trace", r.trace_id), r.workflow_id, { "aria-label": `workflow ${r.workflow_id}` })
    : link(hashFor("trace", r.trace_id), r.trace_id.slice(0, 8) + "…", { "aria-label": `trace ${r.trace_id}` });
  return h(
    "tr",
    { "data-request-id": r.request_id },
    h("td", { class: "time" }, when(r.created_at)),
    h("th", { scope: "row" }, link(hashFor("receipt", r.request_id), r.request_id)),
    h("td", null, trace, r.workflow_node ? h("span", { class: "sub" }, " " + r.workflow_node) : null),
    h("td", null, r.workload || "—"),
    h("td", { class: "dep" }, r.deployment || "—"),
    h("td", null, badge(r.status)),
    h("td", { class: "num", "data-col": "cost" }, money(r.cost_usd)),
    h("td", { class: "num", "data-col": "baseline" }, money(r.baseline_cost_usd)),
    h("td", { class: "num", "data-col": "savings" }, money(r.savings_usd)),
    h("td", { class: "num" }, String(r.fallbacks ?? 0)),
    h("td", { class: "num" }, ms(r.latency_ms)),
  );
}

export async function searchView(out, _arg, params) {
  out.append(h("h1", { tabindex: "-1" }, "Calls"), form(params));
  const q = new URLSearchParams();
  for (const [name] of FILTERS) if (params.get(name)) q.set(name, params.get(name));
  const status = params.get("status") || "";
  const size = Math.max(1, Math.min(1000, Number(params.get("limit")) || PAGE));
  // /x/traces has no status filter: read a larger page and filter here (said on the page).
  q.set("limit", String(status ? 1000 : size));
  const body = await api("/x/traces?" + q.toString());
  let rows = body.receipts;
  if (status) rows = rows.filter((r) => r.status === status).slice(0, size);
  const results = h("section", { "aria-labelledby": "results-h" }, h("h2", { id: "results-h" }, "Results"));
  out.append(results);
  if (!rows.length) {
    results.append(notice("No calls match these filters."));
    return;
  }
  const runs = new Map();
  for (const r of rows) {
    if (!r.workflow_id) continue;
    const run = runs.get(r.trace_id) || { id: r.workflow_id, calls: 0, nodes: new Set() };
    run.calls += 1;
    if (r.workflow_node) run.nodes.add(r.workflow_node);
    runs.set(r.trace_id, run);
  }
  if (runs.size) {
    results.append(
      h("h3", null, "Workflows in these calls"),
      h(
        "ul",
        { class: "workflows", id: "workflows" },
        [...runs].map(([tid, run]) =>
          h("li", { "data-trace-id": tid }, link(hashFor("trace", tid), run.id), ` — ${run.calls} call${run.calls === 1 ? "" : "s"}` + (run.nodes.size ? `: ${[...run.nodes].join(", ")}` : "")),
        ),
      ),
    );
  }
  results.append(
    h("p", { class: "sub", role: "status" }, `${rows.length} call${rows.length === 1 ? "" : "s"}, newest first` + (status ? ` (status ${status}, filtered in the page)` : "")),
    table(
      null,
      ["Time (UTC)", "Request", "Trace / workflow", "Workload", "Deployment", "Status", "Cost", "Baseline", "Savings", "Fallbacks", "Latency"],
      rows.map(row),
      { class: "grid", id: "results" },
    ),
  );
  if (rows.length >= size) {
    // Keyset paging: the next page is everything older than the oldest row shown.
    const older = Object.fromEntries(params.entries());
    older.until = isoAt(rows[rows.length - 1].created_at);
    results.append(h("p", { class: "pager" }, link(hashFor("search", "", older), "Older calls →", { rel: "next" })));
  }
}
