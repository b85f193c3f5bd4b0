// A real ssb-server 16 holding a given set of messages, for sluice's fetch bench
// (benches/src/bin/net_ssb_server.rs). Uses the packages installed for the interop tests:
//
//   NODE_PATH=tests/js/server/node_modules node benches/js/ssb_server_bench.js \
//     --dir DIR --port PORT --import MSGS.jsonl
//
// Adds every message value of MSGS.jsonl (one {key, value} entry per line, each feed in
// sequence order) to its database, replicates those feeds, waits until its indexes hold them,
// then prints one JSON line
//   {"ready":true,"id":"@….ed25519","address":"net:…~shs:…","added":N,"add_ms":T}
// and serves on 127.0.0.1:PORT until its stdin closes.
'use strict'
const fs = require('fs')
const path = require('path')
const minimist = require('minimist')
const ssbKeys = require('ssb-keys')
const Config = require('ssb-config/inject')

const argv = minimist(process.argv.slice(2), { string: ['dir', 'import'] })
if (!argv.dir || !argv.port || !argv.import) {
  console.error('usage: node ssb_server_bench.js --dir DIR --port PORT --import MSGS.jsonl')
  process.exit(2)
}
const port = Number(argv.port)
const config = Config('ssb-sluice-bench', {
  path: path.resolve(argv.dir),
  keys: ssbKeys.generate(),
  host: '127.0.0.1',
  port,
  connections: {
    incoming: { net: [{ scope: ['device', 'local'], host: '127.0.0.1', port, transform: 'shs' }] },
    outgoing: { net: [{ transform: 'shs' }] }
  },
  gossip: { connections: 2, local: false, friends: true, seed: false, global: false },
  replicate: { legacy: true },
  logging: { level: 'error' }
})

const sbot = require('ssb-server')
  .use(require('ssb-master'))
  .use(require('ssb-gossip'))
  .use(require('ssb-replicate'))
  .use(require('ssb-friends'))
  .use(require('ssb-blobs'))
  .use(require('ssb-ebt'))(config)

const values = fs.readFileSync(argv.import, 'utf8')
  .split('\n')
  .filter((line) => line.length > 0)
  .map((line) => JSON.parse(line).value)

const started = Date.now()
function addAll (i) {
  if (i >= values.length) return whenIndexed(ready)
  sbot.add(values[i], (err) => {
    if (err) throw err
    addAll(i + 1)
  })
}

// Replicate (EBT) every feed it holds: ssb-ebt only sends feeds the server itself replicates.
function requestAll () {
  const authors = new Set(values.map((v) => v.author))
  for (const id of authors) {
    if (sbot.ebt && sbot.ebt.request) sbot.ebt.request(id, true)
    if (sbot.replicate && sbot.replicate.request) sbot.replicate.request(id, true)
  }
}

function ready () {
  requestAll()
  const out = { ready: true, id: sbot.id, address: sbot.getAddress(), added: values.length, add_ms: Date.now() - started }
  process.stdout.write(JSON.stringify(out) + '\n')
}

// The indexes createHistoryStream reads lag behind `add`: wait until every view has caught up
// with the log, or a fetch right after the ready line misses the newest messages.
function whenIndexed (done) {
  const s = sbot.status()
  const sync = s && (s.sync || (s.db && s.db.sync))
  if (!sync) {
    console.error('ssb_server_bench: no index status; not waiting for the indexes')
    return done()
  }
  if (sync.sync === true) return done()
  setTimeout(() => whenIndexed(done), 50)
}

addAll(0)

const lines = require('readline').createInterface({ input: process.stdin })
lines.on('close', () => sbot.close(() => process.exit(0)))
process.stdin.on('error', () => sbot.close(() => process.exit(0)))
