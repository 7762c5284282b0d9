/**
 * The live event feed: what happens in the game, as the broadcasts tell it. Recorded on
 * every page (kept for this tab in sessionStorage) so the dashboard shows what happened
 * while another page was open.
 */
import { client } from "./app.js";

const KEY = "webui-feed";
const LIMIT = 200;
const names = new Map(); // source -> player name, to name players in later events
const listeners = new Set();

let entries;
try {
  entries = JSON.parse(sessionStorage.getItem(KEY) || "[]");
} catch {
  entries = [];
}

const until = (expiresAt) => (expiresAt ? `until ${new Date(expiresAt).toLocaleString()}` : "permanently");
const who = (data) => data.name || names.get(data.source) || `Player ${data.source}`;

// event -> (data) => [kind, text]; kind picks the badge.
const DESCRIBE = {
  playerJoined: (d) => ["join", `${d.name} joined (source ${d.source})`],
  playerLeft: (d) => ["leave", `${who(d)} left${d.reason ? `: ${d.reason}` : ""}`],
  characterSelected: (d) => ["character", `${names.get(d.source) || `Player ${d.source}`} is playing ${d.name}`],
  playerKicked: (d) => ["kick", `${who({ source: d.source })} was kicked: ${d.reason}`],
  playerBanned: (d) => ["ban", `${d.name || (d.source != null ? who(d) : "A player")} was banned ${until(d.expiresAt)}: ${d.reason}`],
  playerUnbanned: (d) => ["ban", `Ban #${d.banId}${d.name ? ` (${d.name})` : ""} was lifted`],
  announcement: (d) => [d.type || "info", `Announcement: ${d.message}`],
  jobsChanged: (d) => ["info", `Job ${d.job?.name ?? ""} ${d.action || "changed"}`],
  gameServerStatus: (d) => ["server", d.online ? `Game server connected${d.serverName ? `: ${d.serverName}` : ""}` : "Game server disconnected"],
};
const LABELS = {
  join: "Join", leave: "Leave", character: "Character", kick: "Kick", ban: "Ban",
  info: "Info", warning: "Warning", error: "Error", server: "Server",
};
export const badgeLabel = (kind, event) =>
  event === "announcement" ? "Announce" : event === "playerUnbanned" ? "Unban" : event === "jobsChanged" ? "Jobs" : LABELS[kind] || kind;

let lastOnline = null;

function record(event, data) {
  data = data || {};
  if (event === "gameServerStatus") {
    // Snapshots repeat the status; only a change is news.
    if (lastOnline === Boolean(data.online)) return;
    lastOnline = Boolean(data.online);
  }
  const [kind, text] = DESCRIBE[event](data);
  if (event === "playerJoined") names.set(data.source, data.name);
  const entry = { at: Date.now(), event, kind, text };
  entries.push(entry);
  if (entries.length > LIMIT) entries.splice(0, entries.length - LIMIT);
  try {
    sessionStorage.setItem(KEY, JSON.stringify(entries));
  } catch {
    /* storage full or disabled: the feed still works for this page */
  }
  for (const fn of listeners) fn(entry);
  // Names are kept after playerLeft: a kick's playerKicked may come after its playerLeft.
}

for (const event of Object.keys(DESCRIBE)) client.on(event, (data) => record(event, data));

/** Remember players' names (from getPlayers) so that events about them can name them. */
export function learnNames(players) {
  for (const p of players) names.set(p.source, p.name);
}

/** The entries so far, oldest first. */
export const feedEntries = () => entries.slice();

/** Call ``fn(entry)`` for each new entry. */
export function onFeed(fn) {
  listeners.add(fn);
}
