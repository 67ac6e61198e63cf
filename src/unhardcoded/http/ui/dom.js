// Small helpers shared by every view: building elements (text nodes only, no HTML parsing), formatting money and
// times, and reading the gateway's JSON endpoints.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

// A decimal string with at most 6 significant digits, never in exponent form: money here is often 1e-6.
export function plain(v, digits = 6) {
  if (v === 0) return "0";
  const n = Number(Number(v).toPrecision(digits));
  const decimals = Math.max(0, Math.min(20, digits - 1 - Math.floor(Math.log10(Math.abs(n)))));
  let out = n.toFixed(decimals);
  if (out.includes(".")) out = out.replace(/0+$/, "").replace(/\.$/, "");
  return out;
}

// Money from a receipt (a float) or a roll-up (an exact decimal string); null means "not known", never $0.
export function usd(v) {
  if (v === null || v === undefined) return "unknown";
  if (typeof v === "string") return "$" + v;
  return "$" + plain(v);
}

export function money(v) {
  const text = usd(v);
  return h("span", { class: v === null || v === undefined ? "money unknown" : "money", "data-value": v ?? "" }, text);
}

export function ms(v) {
  return v === null || v === undefined ? "—" : plain(v, 4) + " ms";
}

export function pct(v) {
  return v === null || v === undefined ? "—" : plain(v, 4) + "%";
}

export function when(v) {
  if (v === null || v === undefined) return "—";
  const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function isoAt(epochSeconds) {
  return new Date(epochSeconds * 1000).toISOString();
}

export function badge(status) {
  return h("span", { class: "badge status-" + String(status).replace(/[^a-z_]/g, "") }, String(status));
}

export function link(href, text, attrs) {
  return h("a", { href, ...(attrs || {}) }, text);
}

export function dl(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([k, v]) => [h("dt", null, k), h("dd", null, v)]),
  );
}

export function table(caption, head, rows, attrs) {
  return h(
    "table",
    attrs || {},
    caption ? h("caption", null, caption) : null,
    h("thead", null, h("tr", null, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", null, rows),
  );
}

export function notice(text, kind = "info") {
  return h("p", { class: "notice " + kind, role: kind === "error" ? "alert" : "status" }, text);
}

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || "HTTP " + status);
    this.status = status;
    this.param = err.param || null;
    this.body = body;
  }
}

// With gateway keys configured, the page is public but every /x/ read needs the caller's key: it is kept in
// this tab's sessionStorage only (gone when the tab closes) and sent as a Bearer token.
export const KEY_SLOT = "unhardcoded-gateway-key";

export async function api(path, body) {
  const headers = {};
  const key = sessionStorage.getItem(KEY_SLOT);
  if (key) headers.authorization = "Bearer " + key;
  const init = body === undefined ? { headers } : { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(path, { ...init, credentials: "same-origin", cache: "no-store" });
  let doc = null;
  try {
    doc = await r.json();
  } catch {
    doc = null;
  }
  if (!r.ok) throw new ApiError(r.status, doc);
  return doc;
}

export function jsonText(v) {
  return JSON.stringify(v, null, 2);
}

// "q: bench_intelligence >= 60" from a rule entry of a decision or a rejection.
export function ruleTest(r) {
  const value = r.value !== undefined ? r.value : r.expected;
  return `${r.field} ${r.op} ${typeof value === "string" ? value : JSON.stringify(value)}`;
}
