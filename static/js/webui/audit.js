/** Audit log (admin): every admin action, newest first, paged with nextBefore. */
import { $, attempt, client, el, formatTime, onReady } from "./app.js";

const action = $("#audit-action");
let entries = [];
let nextBefore = null;

function summary(data) {
  if (!data || typeof data !== "object") return "";
  return Object.entries(data)
    .filter(([, v]) => v !== null && v !== "" && typeof v !== "object")
    .map(([k, v]) => `${k}: ${v}`)
    .join(" · ");
}

const OUTCOME_BADGES = { ok: "badge-ok", failed: "badge-failed" }; // pending: plain

function row(e) {
  return el("tr", {},
    el("td", { class: "small" }, formatTime(e.at, true)),
    el("td", {}, e.actor ? (e.issuer ? `${e.issuer} on behalf of ${e.actor}` : e.actor) : "—"),
    el("td", {}, el("code", {}, e.action)),
    el("td", {}, e.target || "—"),
    el("td", {}, el("span", { class: `badge ${OUTCOME_BADGES[e.outcome] || ""}` }, e.outcome)),
    el("td", { class: "small muted" }, [e.detail, summary(e.data)].filter(Boolean).join(" — ")),
  );
}

function render() {
  const rows = entries.map(row);
  if (!rows.length) rows.push(el("tr", { class: "table-empty" }, el("td", { colspan: 6 }, "No entries.")));
  $("#audit-rows").replaceChildren(...rows);
  $("#audit-count").textContent = `${entries.length} entr${entries.length === 1 ? "y" : "ies"} shown`;
  $("#audit-more-row").hidden = nextBefore === null;
}

async function load(more = false) {
  const data = { limit: 100 };
  if (action.value) data.action = action.value;
  if (more && nextBefore !== null) data.before = nextBefore;
  const reply = (await client.request("getAuditLog", data)).data;
  entries = more ? entries.concat(reply.entries) : reply.entries;
  nextBefore = reply.nextBefore ?? null;
  render();
}

action.addEventListener("change", () => attempt(() => load()));
$("#audit-refresh").addEventListener("click", () => attempt(() => load()));
$("#audit-more").addEventListener("click", () => attempt(() => load(true)));
onReady(() => load());
