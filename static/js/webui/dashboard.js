/** Dashboard: server statistics, the game server's state and the live event feed. */
import { $, attempt, client, el, formatDuration, formatTime, onGameStatus, onAnyServer, onReady, selectServer, selectedServer, servers } from "./app.js";
import { badgeLabel, feedEntries, learnNames, onFeed } from "./feed.js";

const feed = $("#feed");
let stats = null; // the last getStats reply, and when it came
let statsAt = 0;

// -- feed ------------------------------------------------------------------------------

function feedItem(entry) {
  return el(
    "li",
    { dataset: { event: entry.event } },
    el("time", { datetime: new Date(entry.at).toISOString() }, formatTime(entry.at)),
    el("span", {}, el("span", { class: `badge badge-${entry.kind}` }, badgeLabel(entry.kind, entry.event))),
    el("span", {}, entry.text),
  );
}

function renderFeed() {
  const entries = feedEntries();
  feed.replaceChildren(...entries.reverse().map(feedItem));
  $("#feed-empty").hidden = entries.length > 0;
  $("#stat-events").textContent = entries.length;
  $("#stat-since").textContent = entries.length ? `since ${formatTime(entries[entries.length - 1].at)}` : " ";
}

onFeed((entry) => {
  feed.prepend(feedItem(entry));
  $("#feed-empty").hidden = true;
  $("#stat-events").textContent = feed.children.length;
  // A change in who is online changes the statistics.
  if (["playerJoined", "playerLeft", "playerKicked", "playerBanned"].includes(entry.event)) refreshSoon();
});

$("#feed-clear").addEventListener("click", () => {
  sessionStorage.removeItem("webui-feed");
  location.reload();
});

// -- statistics ------------------------------------------------------------------------

function renderStats() {
  if (!stats) return;
  $("#stat-online").textContent = stats.onlinePlayers;
  $("#stat-max").textContent = stats.maxPlayers || "—";
  $("#stat-meter").style.width = `${stats.maxPlayers ? Math.min(100, (100 * stats.onlinePlayers) / stats.maxPlayers) : 0}%`;
  tickUptime();
}

function tickUptime() {
  if (!stats) return;
  const online = stats.online !== false;
  $("#stat-uptime").textContent = online ? formatDuration(stats.uptime + (Date.now() - statsAt) / 1000) : "—";
}
setInterval(tickUptime, 1000);

async function loadStats() {
  if (!client.can("stats.view")) return;
  const reply = await client.request("getStats");
  stats = reply.data;
  statsAt = Date.now();
  renderStats();
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => attempt(() => Promise.all([loadStats(), loadOnline()])), 300);
}

onGameStatus((online, status) => {
  const game = $("#stat-game");
  game.textContent = online ? "Connected" : "Offline";
  game.className = `stat-value ${online ? "status-online" : "status-offline"}`;
  if (status.serverName !== undefined) $("#stat-server-name").textContent = status.serverName || " ";
  if (status.onlinePlayers !== undefined || !online) refreshSoon();
});

// -- online now ------------------------------------------------------------------------

async function loadOnline() {
  if (!client.can("players.view")) return;
  const { players } = (await client.request("getPlayers")).data;
  learnNames(players);
  const rows = players.slice(0, 8).map((p) =>
    el("tr", {},
      el("td", {}, el("span", { class: "source" }, p.source)),
      el("td", {}, el("div", { class: "player-name" }, p.name), el("div", { class: "small muted" }, p.character ? p.character.name : "No character yet")),
      el("td", { class: "small muted" }, p.character?.job || ""),
    ));
  if (!players.length) rows.push(el("tr", { class: "table-empty" }, el("td", { colspan: 3 }, "Nobody is online.")));
  if (players.length > 8) rows.push(el("tr", {}, el("td", { colspan: 3, class: "small muted" }, `and ${players.length - 8} more`)));
  $("#online-now").replaceChildren(...rows);
}

function renderAccess() {
  const perms = [...client.permissions];
  $("#my-perms").replaceChildren(...(perms.length ? perms.map((p) => el("span", { class: "badge" }, p)) : [el("span", { class: "muted" }, "No permissions granted.")]));
}

// -- all servers -------------------------------------------------------------------------

async function loadServers() {
  if (!client.can("stats.view")) return;
  const list = await servers.load();
  const shown = selectedServer() || (list.find((s) => s.default) || {}).slug;
  $("#all-servers").replaceChildren(...list.map((s) =>
    el("tr", { dataset: { server: s.slug } },
      el("td", {}, el("div", { class: "player-name" }, s.name), el("div", { class: "small muted" }, s.slug + (s.default ? " · default" : ""))),
      el("td", {}, el("span", { class: s.online ? "status-online" : "status-offline" }, s.online ? "Connected" : "Offline")),
      el("td", {}, `${s.players} / ${s.maxPlayers || "—"}`),
      el("td", {}, s.online ? formatDuration(s.uptime) : "—"),
      el("td", {}, s.slug === shown ? el("span", { class: "badge" }, "shown")
        : el("button", { type: "button", class: "btn btn-sm btn-ghost", onclick: () => { selectServer(s.default ? "" : s.slug); location.reload(); } }, "Show")),
    )));
  $("#all-servers-card").hidden = list.length < 2;
}

let serversTimer = null;
function serversSoon() {
  clearTimeout(serversTimer);
  serversTimer = setTimeout(() => attempt(loadServers), 300);
}
// Every server's coming and going, whichever is shown.
onAnyServer("gameServerStatus", () => serversSoon());
onAnyServer("playerJoined", () => serversSoon());
onAnyServer("playerLeft", () => serversSoon());

renderFeed();
onReady(async () => {
  renderAccess();
  await Promise.all([loadStats(), loadOnline(), loadServers()]);
});

