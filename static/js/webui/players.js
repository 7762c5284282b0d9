/** Players: the live list, filtered; kick and ban behind a confirmation. */
import { $, $$, attempt, client, command, confirmDialog, el, formatMoney, onGameStatus, onReady } from "./app.js";
import { learnNames } from "./feed.js";

const players = new Map(); // source -> player, in the spec's getPlayers shape
const filter = $("#player-filter");
let loaded = false;

// -- the list --------------------------------------------------------------------------

function matches(player, needle) {
  if (!needle) return true;
  const hay = [player.name, String(player.source), player.character?.name, ...Object.values(player.identifiers || {})];
  return hay.some((value) => value && String(value).toLowerCase().includes(needle));
}

function identifierList(identifiers) {
  const values = Object.values(identifiers || {});
  if (!values.length) return el("span", { class: "muted" }, "—");
  return el("div", { class: "ids" }, values.map((v) => el("code", { title: v }, v)));
}

function row(player) {
  const character = player.character;
  const actions = el("td", { class: "actions" });
  // Only what this socket may do is offered; the server checks again anyway.
  if (client.can("players.kick")) {
    actions.append(el("button", { type: "button", class: "btn btn-sm btn-outline-danger", dataset: { action: "kick" } }, "Kick"));
  }
  if (client.can("players.ban")) {
    actions.append(el("button", { type: "button", class: "btn btn-sm btn-danger", dataset: { action: "ban" } }, "Ban"));
  }
  return el(
    "tr",
    { dataset: { source: player.source } },
    el("td", {}, el("span", { class: "source" }, player.source)),
    el("td", { class: "player-name" }, player.name),
    el("td", {}, identifierList(player.identifiers)),
    el("td", {}, character ? character.name : el("span", { class: "muted" }, "Choosing…")),
    el("td", {}, character?.job || el("span", { class: "muted" }, "—")),
    el("td", { class: "num" }, character ? formatMoney(character.cash) : "—"),
    el("td", { class: "num" }, character ? formatMoney(character.bank) : "—"),
    actions,
  );
}

function render() {
  const needle = filter.value.trim().toLowerCase();
  const all = [...players.values()].sort((a, b) => a.source - b.source);
  const shown = all.filter((p) => matches(p, needle));
  const rows = shown.map(row);
  if (!rows.length) {
    const text = !loaded ? "Loading players…" : all.length ? "No player matches the filter." : "Nobody is online.";
    rows.push(el("tr", { class: "table-empty" }, el("td", { colspan: 8 }, text)));
  }
  $("#player-rows").replaceChildren(...rows);
  $("#player-count").textContent = needle ? `${shown.length} of ${all.length} online` : `${all.length} online`;
}

async function load() {
  // A snapshot: the broadcasts that cross its reply are applied again on top of it.
  await client.snapshot("getPlayers", undefined, ({ players: list }) => {
    players.clear();
    for (const p of list) players.set(p.source, p);
    learnNames(list);
    loaded = true;
    render();
  });
}

// Broadcasts change the list at once; a quiet re-read fills what they do not carry
// (all identifiers after a join, job and money after a character selection).
let resyncTimer = null;
function resyncSoon() {
  clearTimeout(resyncTimer);
  resyncTimer = setTimeout(() => attempt(load), 400);
}

function remove(source) {
  if (players.delete(source)) render();
}

client.on("playerJoined", (d) => {
  players.set(d.source, { source: d.source, name: d.name, identifiers: d.license ? { license: d.license } : {}, character: null });
  render();
  resyncSoon();
});
client.on("playerLeft", (d) => remove(d.source));
client.on("playerKicked", (d) => remove(d.source));
client.on("playerBanned", (d) => d.source != null && remove(d.source));
client.on("characterSelected", (d) => {
  const p = players.get(d.source);
  if (!p) return;
  p.character = { ...(p.character || {}), id: d.characterId, name: d.name };
  render();
  resyncSoon();
});
client.on("characterUpdated", (d) => {
  const p = players.get(d.source);
  if (!p) return;
  const { source, characterId, ...changes } = d;
  p.character = { ...(p.character || {}), id: characterId, ...changes };
  render();
});
onGameStatus((online) => {
  if (!online) {
    players.clear();
    render();
  } else resyncSoon(); // a (new) snapshot: read the list again, even if a read is in flight
});
client.onState(() => loaded && render()); // permissions may have changed: controls follow

filter.addEventListener("input", render);
$("#refresh").addEventListener("click", () => attempt(load));

// -- kick and ban ----------------------------------------------------------------------

function fill(dialog, player) {
  for (const node of $$("[data-fill]", dialog)) node.textContent = player[node.dataset.fill];
  $("form", dialog).reset();
}

// action -> [dialog, event, what the user asked, the request's data from the form]
const ACTIONS = {
  kick: ["#kick-dialog", "kickPlayer", "kick", (v) => ({ reason: v.reason.trim() })],
  ban: ["#ban-dialog", "banPlayer", "ban", (v) => ({ reason: v.reason.trim(), duration: v.duration.trim() })],
};

/** Kick or ban ``player`` once the user confirmed in the action's dialog. */
async function act(action, player) {
  const [selector, event, verb, fields] = ACTIONS[action];
  const dialog = $(selector);
  fill(dialog, player);
  const values = await confirmDialog(dialog);
  if (!values) return;
  const data = { source: player.source, ...fields(values) };
  if (await command(event, data, `${verb} ${player.name}`)) remove(player.source);
}

$("#player-rows").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const player = players.get(Number(button.closest("tr").dataset.source));
  if (!player) return;
  act(button.dataset.action, player);
});

onReady(load);
