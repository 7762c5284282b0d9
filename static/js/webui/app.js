/**
 * What every page of the web admin shares: one RealtimeClient on the platform's socket,
 * its token from the session endpoint, the connection indicator and banner, messages,
 * and permission gating of controls ([data-perm]).
 */
import { RealtimeClient, SignedOut, State, tokenExpiry } from "../realtime-client.js";

const body = document.body;
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
const cacheKey = `webui-token:${body.dataset.username}`;

/** A token from the session endpoint; on a plain connect a still-fresh one of this tab. */
async function getToken(reason) {
  if (reason === "connect") {
    // Pages of one tab share a token while it is fresh: a click is not a new token.
    const cached = sessionStorage.getItem(cacheKey);
    if (cached && (tokenExpiry(cached) || 0) - Date.now() / 1000 > 60) return cached;
  }
  let response;
  try {
    response = await fetch(body.dataset.tokenUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      credentials: "same-origin",
    });
  } catch {
    throw new Error("The platform is unreachable");
  }
  if (response.status === 401 || response.status === 403) {
    sessionStorage.removeItem(cacheKey);
    throw new SignedOut("Your session has ended. Sign in again.");
  }
  if (!response.ok) throw new Error(`Could not get a socket token (HTTP ${response.status})`);
  const { token } = await response.json();
  sessionStorage.setItem(cacheKey, token);
  return token;
}

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
export const client = new RealtimeClient({ url: `${scheme}//${location.host}/`, getToken });

// -- the game server shown (the switcher) ------------------------------------------------
// Remembered per user (in this browser). Every game request of every page gets its
// data.server, and the game broadcasts of other servers are not passed to the pages: one
// place, so no page needs to know that servers exist.

const serverKey = `webui-server:${body.dataset.username}`;
const SERVER_REQUESTS = new Set(["getPlayers", "getStats", "kickPlayer", "banPlayer", "announce"]);
const SERVER_BROADCASTS = new Set([
  "playerJoined", "playerLeft", "playerKicked", "characterSelected", "characterUpdated", "gameServerStatus",
]);
let defaultServer = null; // the default server's slug, once getServers told it

/** The slug of the game server the pages show ("" until one was chosen: the default). */
export const selectedServer = () => localStorage.getItem(serverKey) || "";

export function selectServer(slug) {
  if (slug) localStorage.setItem(serverKey, slug);
  else localStorage.removeItem(serverKey);
}

const shownServer = () => selectedServer() || defaultServer;
const request = client.request.bind(client);
client.request = (event, data, options) => {
  const server = selectedServer();
  if (server && SERVER_REQUESTS.has(event) && !(data && "server" in data)) data = { ...(data || {}), server };
  return request(event, data, options);
};
const on = client.on.bind(client);
/** A game broadcast of any server (the all-servers dashboard), not only the one shown. */
export const onAnyServer = (event, fn) => on(event, fn);
client.on = (event, fn) => on(event, SERVER_BROADCASTS.has(event)
  ? (data, ...rest) => {
    // "*": an announcement to every server, the one shown included.
    if (!data || !data.server || data.server === "*" || !shownServer() || data.server === shownServer()) fn(data, ...rest);
  }
  : fn);

// -- small DOM helpers (text only: nothing from the socket is ever parsed as HTML) --------

/** An element: ``el("td", {class: "x", title: "y"}, "text", child)``. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function formatDuration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

const money = new Intl.NumberFormat(undefined, { style: "currency", currency: "USD", maximumFractionDigits: 0 });
export const formatMoney = (value) => (typeof value === "number" ? money.format(value) : "—");

export function formatTime(value, withDate = false) {
  if (!value) return "—";
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return withDate
    ? date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })
    : date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

// -- messages --------------------------------------------------------------------------

/** Show a message to the user: kind is "success", "error" or "info". */
export function notify(kind, text, { sticky = kind === "error" } = {}) {
  const box = $("#messages");
  const close = el("button", { type: "button", class: "msg-close", "aria-label": "Dismiss" }, "×");
  const item = el("div", { class: `msg msg-${kind}`, role: kind === "error" ? "alert" : "status" }, el("span", {}, text), close);
  close.addEventListener("click", () => item.remove());
  box.append(item);
  while (box.children.length > 4) box.firstElementChild.remove();
  if (!sticky) setTimeout(() => item.remove(), 6000);
  return item;
}

/** The text to show for a failed request. */
export function describe(error) {
  if (!error) return "Unknown error";
  if (error.code === "connection_lost") return "The connection was lost before the platform answered; check whether it was done.";
  return error.message || String(error);
}

/**
 * Send a command the user asked for and show the outcome: the server's success message,
 * or "Could not <what>: <the server's error>". Resolves to the reply, or null on failure.
 */
export async function command(event, data, what) {
  try {
    const reply = await client.request(event, data);
    notify("success", reply.data?.message || `Done: ${what}`);
    return reply;
  } catch (error) {
    notify("error", `Could not ${what}: ${describe(error)}`);
    return null;
  }
}

/** Run ``fn`` (a load, redone on every reconnect) and show any error it throws. */
export async function attempt(fn) {
  try {
    return await fn();
  } catch (error) {
    // A load cut off by a lost connection is redone on reconnect; the banner says so.
    if (!(["connection_lost", "closed"].includes(error.code) && client.state !== State.OPEN)) {
      notify("error", describe(error));
    }
    return undefined;
  }
}

// -- permissions -----------------------------------------------------------------------

/** Show [data-perm] elements only while the socket holds their permission. */
export function gate(root = document) {
  for (const node of $$("[data-perm]", root)) node.hidden = !client.can(node.dataset.perm);
}

// -- connection state, shown -----------------------------------------------------------

const LABELS = {
  [State.IDLE]: "Not connected",
  [State.CONNECTING]: "Connecting…",
  [State.AUTHENTICATING]: "Signing in…",
  [State.OPEN]: "Live",
  [State.RECONNECTING]: "Reconnecting…",
  [State.STOPPED]: "Signed out",
};
let wasOpen = false;

function showState(state, detail = {}) {
  const pill = $("#conn-state");
  pill.dataset.state = state;
  $(".conn-label", pill).textContent =
    state === State.RECONNECTING && detail.delay ? `Retrying in ${Math.ceil(detail.delay / 1000)} s` : LABELS[state];
  pill.title = client.clientId ? `Socket connection · client ${client.clientId}` : "Socket connection";
  body.dataset.connection = state;
  if (state === State.OPEN) wasOpen = true;
  const banner = $("#connection-banner");
  if (state === State.STOPPED) {
    banner.hidden = false;
    $(".banner-detail", banner).replaceChildren(
      (detail.error && detail.error.message) || "Your session has ended.",
      " ",
      el("a", { href: body.dataset.loginUrl }, "Sign in again"),
    );
  } else {
    // Lost after having been live, or never got through after the first attempt.
    banner.hidden = state === State.OPEN || !(wasOpen || (detail.attempt || 0) > 1);
    if (!banner.hidden) {
      const why = client.lastError ? ` (${describe(client.lastError)})` : "";
      $(".banner-detail", banner).textContent =
        state === State.RECONNECTING ? `Reconnecting in ${Math.ceil((detail.delay || 0) / 1000)} s…${why}` : "Reconnecting…";
    }
  }
  gate();
}

client.onState(showState);
client.onError((error) => {
  // Errors that belong to no request: a refused token, a failed token fetch, ...
  if (client.state === State.OPEN || error.code === "invalid_token" || error instanceof SignedOut) {
    notify("error", describe(error));
  }
});
// Controls follow at once (onState fires). The token is deliberately not renewed here: it
// keeps the scope it was minted with, so rights taken away and given back show up again.
// A permission the token never carried arrives with the next renewal (tokenExpiring).
client.on("permissionsChanged", (data) => {
  notify("info", `Your permissions changed: ${(data.permissions || []).join(", ") || "none"}.`);
});

// -- the game server's state, shown where pages ask for it ------------------------------

let gameOnline = null;
const gameListeners = new Set();

/** Call ``fn(online, status)`` whenever the game server's connection state is learnt. */
export function onGameStatus(fn) {
  gameListeners.add(fn);
  if (gameOnline !== null) fn(gameOnline, {});
}

export function setGameStatus(online, status = {}) {
  gameOnline = online;
  const banner = $("#game-banner");
  if (banner && body.dataset.gameBanner !== "off") banner.hidden = online !== false;
  for (const fn of gameListeners) fn(online, status);
}

client.on("gameServerStatus", (data) => setGameStatus(Boolean(data && data.online), data || {}));

// -- page start --------------------------------------------------------------------------

/**
 * Run ``fn`` each time the socket is (re)authenticated: load or reload the page's data.
 * Not after a recovered reconnect (docs/PROTOCOL.md, "Positions and recovery"): the
 * platform replays what was missed, so the data already loaded stays whole.
 */
export function onReady(fn) {
  let loaded = false;
  const load = async () => {
    await fn();
    loaded = true;
  };
  client.onState((state, detail) => {
    if (state === State.OPEN && !detail.renewed && !(detail.recovered && loaded)) attempt(load);
  });
  if (client.state === State.OPEN) attempt(load);
}

/** The switcher: every game server, shown when there are several (needs stats.view). */
async function loadServers() {
  const switcher = $("#server-switch");
  if (!switcher || !client.can("stats.view")) return [];
  const { servers } = (await client.request("getServers")).data;
  defaultServer = (servers.find((s) => s.default) || servers[0] || {}).slug || null;
  if (selectedServer() && !servers.some((s) => s.slug === selectedServer())) selectServer(""); // removed
  switcher.replaceChildren(...servers.map((s) =>
    el("option", { value: s.slug, selected: s.slug === shownServer() }, `${s.name}${s.online ? "" : " (offline)"}`)));
  $("#server-switcher").hidden = servers.length < 2;
  return servers;
}
export const servers = { load: loadServers };

$("#server-switch")?.addEventListener("change", (event) => {
  selectServer(event.target.value === defaultServer ? "" : event.target.value);
  location.reload(); // every page loads its data for the server chosen
});

// Every page shows whether the game server is connected (getStats tells, with stats.view).
onReady(async () => {
  await loadServers();
  if (!client.can("stats.view")) return;
  const { data } = await client.request("getStats");
  if (typeof data.online === "boolean") setGameStatus(data.online, { serverName: data.serverName });
});

/** Ask for confirmation with a <dialog>; resolves to the form's values or null. */
export function confirmDialog(dialog) {
  return new Promise((resolve) => {
    const form = $("form", dialog);
    const done = (value) => {
      dialog.removeEventListener("close", onClose);
      form.removeEventListener("submit", onSubmit);
      resolve(value);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      const submitter = event.submitter;
      if (submitter && submitter.value === "cancel") {
        dialog.close();
        return;
      }
      if (!form.reportValidity()) return;
      const values = Object.fromEntries(new FormData(form));
      dialog.close();
      done(values);
    };
    const onClose = () => done(null);
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
  });
}

for (const button of $$("[data-close-dialog]")) {
  button.addEventListener("click", () => button.closest("dialog").close());
}

showState(client.state);
client.connect();
window.addEventListener("pagehide", () => client.close());
window.addEventListener("pageshow", (event) => event.persisted && client.connect());
