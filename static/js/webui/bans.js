/** Bans: list and search (server-side), lift a ban, ban by identifier. */
import { $, $$, attempt, client, command, confirmDialog, el, formatTime, onReady } from "./app.js";

const search = $("#ban-search");
const all = $("#ban-all");
let bans = [];

function row(ban) {
  const status = ban.active
    ? el("span", { class: "badge badge-ban" }, "in force")
    : el("span", { class: "badge" }, ban.liftedAt ? `lifted${ban.liftedBy ? ` by ${ban.liftedBy}` : ""}` : "expired");
  return el(
    "tr",
    { dataset: { ban: ban.id } },
    el("td", { class: "muted" }, ban.id),
    el("td", { class: "player-name" }, ban.name || el("span", { class: "muted" }, "—")),
    el("td", {}, el("div", { class: "ids" }, ban.identifiers.map((v) => el("code", { title: v }, v)))),
    el("td", {}, ban.reason),
    el("td", {}, ban.bannedBy || "—"),
    el("td", { class: "small" }, formatTime(ban.createdAt, true)),
    el("td", { class: "small" }, ban.expiresAt ? formatTime(ban.expiresAt, true) : "permanent"),
    el("td", {}, status),
    el("td", { class: "actions" }, ban.active && client.can("players.ban")
      ? el("button", { type: "button", class: "btn btn-sm", dataset: { action: "unban" } }, "Unban")
      : ""),
  );
}

function render() {
  const rows = bans.map(row);
  if (!rows.length) rows.push(el("tr", { class: "table-empty" }, el("td", { colspan: 9 }, search.value ? "No ban matches the search." : "No bans.")));
  $("#ban-rows").replaceChildren(...rows);
  $("#ban-count").textContent = `${bans.length} ban${bans.length === 1 ? "" : "s"}${bans.length >= 200 ? " (first 200)" : ""}`;
}

async function load() {
  const reply = await client.request("getBans", { active: !all.checked, search: search.value.trim(), limit: 200 });
  bans = reply.data.bans;
  render();
}

let timer = null;
const loadSoon = (delay = 250) => {
  clearTimeout(timer);
  timer = setTimeout(() => attempt(load), delay);
};
search.addEventListener("input", () => loadSoon());
all.addEventListener("change", () => loadSoon(0));
client.on("playerBanned", () => loadSoon());
client.on("playerUnbanned", () => loadSoon());

$("#ban-rows").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action=unban]");
  if (!button) return;
  const ban = bans.find((b) => b.id === Number(button.closest("tr").dataset.ban));
  const dialog = $("#unban-dialog");
  for (const node of $$("[data-fill]", dialog)) node.textContent = node.dataset.fill === "name" ? ban.name || ban.identifiers.join(", ") : ban.id;
  if (!(await confirmDialog(dialog))) return;
  if (await command("unbanPlayer", { banId: ban.id }, `lift ban ${ban.id}`)) await attempt(load);
});

$("#ban-new").hidden = !client.can("players.ban");
client.onState(() => {
  $("#ban-new").hidden = !client.can("players.ban");
});
$("#ban-new").addEventListener("click", async () => {
  const dialog = $("#offline-ban-dialog");
  $("form", dialog).reset();
  const values = await confirmDialog(dialog);
  if (!values) return;
  const identifiers = values.identifiers.split(/[\s,]+/).map((v) => v.trim()).filter(Boolean);
  const data = { identifiers, name: values.name.trim(), reason: values.reason.trim(), duration: values.duration.trim() };
  if (await command("banPlayer", data, "ban")) await attempt(load);
});

onReady(load);
