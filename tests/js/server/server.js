// Starts a real ssb-server 16 for sluice's interop tests and its fetch bench.
//
//   node server.js --dir DIR --port PORT [--seed HEX32] [--publish N] [--follow @id.ed25519]...
//                  [--import MSGS.jsonl]
//
// Listens on 127.0.0.1:PORT only (no LAN discovery, no websockets). With --import it first adds
// every message value of MSGS.jsonl (one {key, value} entry per line, each feed in sequence
// order), waits until its indexes hold them and replicates (EBT) every feed in it (the fetch
// bench, benches/src/bin/net_ssb_server.rs). It publishes N posts on its own feed, follows the
// given feeds, prints one JSON ready line
//   {"ready":true,"id":"@….ed25519","port":PORT,"address":"net:…~shs:…","published":N,
//    "added":M,"add_ms":T}
// then one line {"stored":{"key","author","sequence"}} per message it stores afterwards,
// publishes a post for each stdin line `publish TEXT` (answering {"published":{key,sequence}}),
// dials the peer of each stdin line `connect ADDRESS` (answering {"connected":ADDRESS}), and
// exits when its stdin closes (so a test that dies takes the server with it).
'use strict'
const fs = require('fs')
const path = require('path')
const minimist = require('minimist')
const ssbKeys = require('ssb-keys')
const Config = require('ssb-config/inject')

const argv = minimist(process.argv.slice(2), { string: ['seed', 'follow', 'dir', 'import'] })
if (!argv.dir || !argv.port) {
  console.error('usage: node server.js --dir DIR --port PORT [--seed HEX32] [--publish N] [--follow @id] [--import MSGS.jsonl]')
  process.exit(2)
}
const port = Number(argv.port)
const keys = argv.seed
  ? ssbKeys.generate('ed25519', Buffer.from(argv.seed, 'hex'))
  : ssbKeys.generate()
const follows = [].concat(argv.follow || [])
const publishCount = Number(argv.publish || 0)

const config = Config('ssb-sluice-interop', {
  path: path.resolve(argv.dir),
  keys,
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

const createSsbServer = require('ssb-server')
  .use(require('ssb-master'))
  .use(require('ssb-gossip'))
  .use(require('ssb-replicate'))
  .use(require('ssb-friends'))
  .use(require('ssb-blobs'))
  .use(require('ssb-ebt'))

const sbot = createSsbServer(config)

function publishAll (i, done) {
  if (i >= publishCount) return done()
  sbot.publish({ type: 'post', text: 'interop message ' + (i + 1) }, (err) => {
    if (err) return done(err)
    publishAll(i + 1, done)
  })
}

function followAll (i, done) {
  if (i >= follows.length) return done()
  sbot.publish({ type: 'contact', contact: follows[i], following: true }, (err) => {
    if (err) return done(err)
    followAll(i + 1, done)
  })
}

const imported = argv.import
  ? fs.readFileSync(argv.import, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l).value)
  : []

function addAll (i, done) {
  if (i >= imported.length) return imported.length > 0 ? whenIndexed(done) : done()
  sbot.add(imported[i], (err) => {
    if (err) return done(err)
    addAll(i + 1, done)
  })
}

// The indexes createHistoryStream reads lag behind `add`: wait until every view has caught up
// with the log, or a fetch right after the ready line misses the newest messages.
function whenIndexed (done) {
  const s = sbot.status()
  const sync = s && (s.sync || (s.db && s.db.sync))
  if (!sync) {
    console.error('server.js: no index status; not waiting for the indexes')
    return done()
  }
  if (sync.sync === true) return done()
  setTimeout(() => whenIndexed(done), 50)
}

// Replicate every imported feed: ssb-ebt only sends feeds the server itself replicates.
function requestImported () {
  for (const id of new Set(imported.map((v) => v.author))) {
    if (sbot.ebt && sbot.ebt.request) sbot.ebt.request(id, true)
    if (sbot.replicate && sbot.replicate.request) sbot.replicate.request(id, true)
  }
}

const started = Date.now()
addAll(0, (err) => {
  if (err) throw err
  const addMs = Date.now() - started
  requestImported()
  publishAll(0, (err) => {
    if (err) throw err
    followAll(0, (err) => {
      if (err) throw err
      const ready = {
        ready: true,
        id: sbot.id,
        port,
        address: sbot.getAddress(),
        published: publishCount,
        added: imported.length,
        add_ms: addMs
      }
      emit(ready)
      live = true
    })
  })
})

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// Messages stored after the ready line (not the imported ones).
let live = false
sbot.post((msg) => {
  if (!live) return
  emit({ stored: { key: msg.key, author: msg.value.author, sequence: msg.value.sequence } })
})

const lines = require('readline').createInterface({ input: process.stdin })
lines.on('line', (line) => {
  if (line.startsWith('connect ')) return connect(line.slice(8))
  if (!line.startsWith('publish ')) return
  sbot.publish({ type: 'post', text: line.slice(8) }, (err, msg) => {
    if (err) return emit({ error: err.message })
    emit({ published: { key: msg.key, sequence: msg.value.sequence } })
  })
})
// Dials a peer (a multiserver address); ssb-ebt then calls ebt.replicate on it.
function connect (address) {
  sbot.connect(address, (err) => {
    emit(err ? { error: err.message } : { connected: address })
  })
}

lines.on('close', () => sbot.close(() => process.exit(0)))
process.stdin.on('error', () => sbot.close(() => process.exit(0)))
