// The reference client outside a browser, as an external app uses it (run by
// test_client_node.py): node --experimental-websocket client_check.mjs CLIENT_URL WS_URL TOKEN
// Prints one JSON line per step; reads "restarted" on stdin after the test restarts the server.
import { createInterface } from "node:readline";

const [clientUrl, url, token] = process.argv.slice(2);
const { RealtimeClient, RealtimeError, State } = await import(clientUrl);
const out = (step, value) => console.log(JSON.stringify({ step, value }));
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const reasons = [];
const states = [];

const client = new RealtimeClient({
  url,
  getToken: async (reason) => {
    reasons.push(reason);
    return token;
  },
  minDelay: 100,
  maxDelay: 500,
});
client.onState((state) => states.push(state));

// Queued while offline: times out because it is never sent before its timeout.
const early = await client.request("ping", undefined, { timeout: 50 }).catch((e) => e);
out("queued-timeout", [early instanceof RealtimeError, early.code]);

client.connect();
await client.ready();
out("ready", { clientId: typeof client.clientId, permissions: [...client.permissions], reasons });

out("ping", (await client.request("ping")).event);
out("unknown", await client.request("noSuchEvent").catch((e) => e.code));
out("invalid", await client.request("auth", { token: 5 }).catch((e) => [e.code, typeof e.details.errors]));
out("denied", await client.request("getConnectedClients").catch((e) => e.code));

// The server goes away and comes back: the client reconnects with the token it holds.
const firstId = client.clientId;
out("waiting", "restart");
await lines.next();
await new Promise((resolve) => {
  const off = client.onState((state) => state === State.OPEN && (off(), resolve()));
  if (client.state === State.OPEN && client.clientId !== firstId) resolve();
});
out("reconnected", {
  newClientId: client.clientId !== firstId,
  sawReconnecting: states.includes("reconnecting"),
  reasons,
  ping: (await client.request("ping")).event,
});
client.close();
out("closed", client.state);
process.exit(0);
