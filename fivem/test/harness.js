'use strict';
// Runs the resource (server/main.js, exactly as FXServer loads it) under the stand-in
// runtime of fake-fivem.js, driven over stdin/stdout with one JSON object per line.
//
//   node fivem/test/harness.js --convar ws_platform_url=ws://127.0.0.1:PORT --convar ws_platform_token=...
//     [--resource-name websocket] [--seed-players N]
//
// Commands (stdin):
//   {"cmd": "connect", "source": 1, "name": "Nova", "identifiers": ["license:abc"],
//    "abandon": false}   (abandon: the player gives up while connecting)
//   {"cmd": "leave", "source": 1, "reason": "Exiting"}
//   {"cmd": "emit", "event": "websocket:characterSelected", "args": [1, {...}]}
//   {"cmd": "export", "id": 7, "resource": "[websocket]", "name": "generateToken", "args": [...],
//    "callback": false}
//   {"cmd": "script", "id": 8, "code": "const t = exports['[websocket]'].generateToken(...);", "result": "t"}
//   {"cmd": "stop"}
// Records (stdout): {"type": "console" | "native" | "event" | "sent" | "received" | "connectResult" |
//   "exportResult" | "exportCallback" | "scriptResult" | "error" | "unhandledRejection" | "ready" | "stopped", ...}

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const util = require('util');
const vm = require('vm');
const { FakeFiveM } = require('./fake-fivem');

const ROOT = path.resolve(__dirname, '..');

function parseArgs(argv) {
  const convars = {};
  let resourceName = 'websocket';
  let seedPlayers = 0;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--convar') {
      const [name, ...rest] = argv[++i].split('=');
      convars[name] = rest.join('=');
    } else if (argv[i] === '--resource-name') {
      resourceName = argv[++i];
    } else if (argv[i] === '--seed-players') {
      seedPlayers = Number(argv[++i]);
    } else {
      throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return { convars, resourceName, seedPlayers };
}

function record(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

const { convars, resourceName, seedPlayers } = parseArgs(process.argv.slice(2));
const fivem = new FakeFiveM({ convars, resourceName, resourcePath: ROOT, record });
// Players already on the server when the resource starts (`restart websocket` mid-game).
for (let source = 1; source <= seedPlayers; source++) {
  const hex = (n) => n.toString(16).padStart(40, '0');
  fivem.players.set(source, {
    name: `Player${source}`,
    identifiers: [`license:${hex(source)}`, `discord:${100000000000000000 + source}`, `fivem:${source}`],
  });
}

// FXServer prints a script's console output to the server console; here it is recorded.
for (const level of ['log', 'info', 'warn', 'error']) {
  console[level] = (...args) => record({ type: 'console', level, text: util.format(...args).replace(/\^\d/g, '') });
}
process.on('unhandledRejection', (reason) => record({ type: 'unhandledRejection', message: String(reason && reason.stack) }));

// Every frame the resource sends is recorded (event, requestId, and the data of small
// frames other than auth: the token is never printed).
const wsPath = require.resolve(path.join(ROOT, 'vendor', 'ws', 'index.js'));
const RealWebSocket = require(wsPath);
class RecordingWebSocket extends RealWebSocket {
  constructor(...args) {
    super(...args);
    // Every frame received: its event name only (a token may be in the data).
    this.on('message', (raw) => {
      let event = null;
      try {
        event = JSON.parse(String(raw)).event;
      } catch (e) {
        // not JSON: the resource says so itself
      }
      record({ type: 'received', event });
    });
  }

  send(text, ...rest) {
    const frame = JSON.parse(text);
    const small = frame.event !== 'auth' && text.length < 4096;
    record({ type: 'sent', event: frame.event, requestId: frame.requestId, data: small ? frame.data : undefined });
    return super.send(text, ...rest);
  }
}
require.cache[wsPath].exports = RecordingWebSocket;

fivem.install(globalThis);
globalThis.require = require; // FXServer's Node runtime gives scripts a global require
const main = path.join(ROOT, 'server', 'main.js');
vm.runInThisContext(fs.readFileSync(main, 'utf8'), { filename: main });
fivem.trigger('onResourceStart', '', [resourceName]);
fivem.trigger('onServerResourceStart', '', [resourceName]);
record({ type: 'ready' });

const commands = {
  connect(c) {
    return fivem.connect(c.source, c.name, c.identifiers || [], { deferralTimeout: c.deferralTimeout, abandon: c.abandon })
      .then((result) => record(Object.assign({ type: 'connectResult', source: c.source }, result)));
  },
  leave(c) {
    fivem.leave(c.source, c.reason || 'Exiting');
  },
  emit(c) {
    fivem.emit(c.event, c.args || []);
  },
  export(c) {
    // As another resource calls it: exports[resource][name](...args).
    const args = (c.args || []).slice();
    if (c.callback) {
      // The callback form (a Lua function passed as the last argument arrives as one).
      args.push((err, value) => record({ type: 'exportCallback', id: c.id, err, value }));
    }
    let result;
    let promise = false; // whether the export returned a Promise (else: its value, now)
    try {
      const raw = globalThis.exports[c.resource][c.name](...args);
      promise = Boolean(raw && typeof raw.then === 'function');
      result = Promise.resolve(raw);
    } catch (err) {
      result = Promise.reject(err);
    }
    return result.then(
      (value) => record({ type: 'exportResult', id: c.id, ok: true, promise, value: value === undefined ? null : value }),
      (err) => record({ type: 'exportResult', id: c.id, ok: false, promise, error: err.message, code: err.code || null }),
    );
  },
  script(c) {
    // Code as another resource's server script would run it (the spec's examples,
    // verbatim), then the value of the expression ``result``.
    let value;
    let promise = false;
    try {
      value = vm.runInThisContext(`(function () {\n${c.code}\n;return (${c.result});\n})()`, { filename: `script-${c.id}.js` });
      promise = Boolean(value && typeof value.then === 'function');
    } catch (err) {
      record({ type: 'scriptResult', id: c.id, ok: false, error: err.message, code: err.code || null });
      return undefined;
    }
    const kind = Array.isArray(value) ? 'array' : typeof value;
    record({ type: 'scriptResult', id: c.id, ok: true, promise, kind, value: promise || value === undefined ? null : value });
    return undefined;
  },
  stop() {
    fivem.trigger('onResourceStop', '', [resourceName]);
    fivem.trigger('onServerResourceStop', '', [resourceName]);
    record({ type: 'stopped' });
    setImmediate(() => process.exit(0));
  },
};

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
  } catch (e) {
    record({ type: 'error', where: 'stdin', message: `not JSON: ${line}` });
    return;
  }
  const run = commands[command.cmd];
  if (!run) {
    record({ type: 'error', where: 'stdin', message: `unknown command ${command.cmd}` });
    return;
  }
  Promise.resolve()
    .then(() => run(command))
    .catch((err) => record({ type: 'error', where: command.cmd, message: String(err && err.stack) }));
}).on('close', () => process.exit(0));
