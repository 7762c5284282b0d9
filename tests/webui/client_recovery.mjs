// The reference client's recovery (run by test_client_node.py):
//   node --experimental-websocket client_recovery.mjs CLIENT_URL WS_URL TOKEN
// Two clients log every broadcast; the "flaky" one drops its socket after 30 ticks and
// reconnects by itself. Prints JSON lines: "ready", then "logs" once both saw "done".
const [clientUrl, url, token] = process.argv.slice(2);
const { RealtimeClient } = await import(clientUrl);
const out = (step, value) => console.log(JSON.stringify({ step, value }));

function make() {
  const client = new RealtimeClient({ url, getToken: async () => token, minDelay: 50, maxDelay: 200 });
  const log = [];
  const opens = [];
  const done = new Promise((resolve) => {
    client.on("*", (data, frame) => {
      if (frame.event === "tick" || frame.event === "done") log.push([frame.event, data, frame.position]);
      if (frame.event === "done") resolve();
    });
  });
  client.onState((state, detail) => state === "open" && !detail.renewed && !detail.force && opens.push(detail.recovered));
  return { client, log, opens, done };
}

const reference = make();
const flaky = make();
for (const c of [reference, flaky]) c.client.connect();
await Promise.all([reference.client.ready(), flaky.client.ready()]);
const snap = await flaky.client.snapshot("getPlayers", undefined, () => {});
out("ready", { position: typeof snap.position?.offset });

let ticks = 0;
flaky.client.on("tick", () => {
  ticks += 1;
  if (ticks === 30) flaky.client._socket.close(4000, "dropped by the test"); // a blip
});
await Promise.all([reference.done, flaky.done]);
out("logs", { reference: reference.log, flaky: flaky.log, opens: flaky.opens });
for (const c of [reference, flaky]) c.client.close();
process.exit(0);
