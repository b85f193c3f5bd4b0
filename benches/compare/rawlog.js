// Raw-log comparison, the async-append-only-log side (ssb-db2's log): append N records of
// SIZE bytes, reopen and scan them all, then read GETS records at pseudo-random offsets.
// Prints one JSON line like ssb-db2.js.
//
// Record i is record i % POOL of a pool made up front (as on the Rust side), so neither side
// holds its whole input: the memory rows measure the log, not the harness's copy of the data.
//
//   node rawlog.js --dir D --n 100000 --size 600 --gets 10000
'use strict'

const fs = require('fs')
const path = require('path')
const AsyncLog = require('async-append-only-log')
const { now, memory, parseArgs, emit } = require('./common')

const BLOCK_SIZE = 64 * 1024 // ssb-db2's block size
const POOL = 1024 // distinct records; record i is pool[i % POOL] (rawlog.rs: RECORD_POOL)

function openLog(file) {
  return AsyncLog(file, { blockSize: BLOCK_SIZE })
}

// Record i: SIZE bytes from a simple xorshift stream seeded by i (same bytes as the Rust side).
function record(i, size) {
  const buf = Buffer.alloc(size)
  let x = (BigInt(i) * 0x9e3779b97f4a7c15n + 1n) & 0xffffffffffffffffn
  for (let p = 0; p < size; p += 8) {
    x ^= (x << 13n) & 0xffffffffffffffffn
    x ^= x >> 7n
    x ^= (x << 17n) & 0xffffffffffffffffn
    const word = Buffer.alloc(8)
    word.writeBigUInt64LE(x)
    word.copy(buf, p, 0, Math.min(8, size - p))
  }
  return buf
}

// Appends record i % pool.length for i in 0..n (the log copies each into its block at once).
function appendAll(log, pool, n) {
  const offsets = new Array(n)
  return new Promise((resolve, reject) => {
    let pending = n
    for (let i = 0; i < n; i++) {
      log.append(pool[i % pool.length], (err, off) => {
        if (err) return reject(err)
        offsets[i] = off
        if (--pending === 0) log.onDrain(() => resolve(offsets))
      })
    }
  })
}

function scan(log) {
  return new Promise((resolve, reject) => {
    let count = 0
    let bytes = 0
    log.stream({ gte: 0, live: false, offsets: false }).pipe({
      paused: false,
      write(buf) {
        count += 1
        bytes += buf.length
      },
      end(err) {
        if (err && err !== true) reject(err)
        else resolve({ count, bytes })
      },
    })
  })
}

async function getAll(log, offsets, gets) {
  let seed = 12345
  let bytes = 0
  for (let i = 0; i < gets; i++) {
    seed = (seed * 48271) % 2147483647 // MINSTD: exact in doubles
    const off = offsets[seed % offsets.length]
    const buf = await new Promise((res, rej) =>
      log.get(off, (err, b) => (err ? rej(err) : res(b)))
    )
    bytes += buf.length
  }
  return bytes
}

function closeLog(log) {
  return new Promise((resolve) => log.close(() => resolve()))
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const n = Number(args.n || 100000)
  const size = Number(args.size || 600)
  const gets = Number(args.gets || 10000)
  const file = path.join(args.dir, 'log.aaol')
  const pool = Array.from({ length: Math.min(n, POOL) }, (_, i) => record(i, size))

  let log = openLog(file)
  const t0 = now()
  const offsets = await appendAll(log, pool, n)
  const tAppend = now() - t0
  await closeLog(log)

  log = openLog(file)
  const t1 = now()
  const scanned = await scan(log)
  const tScan = now() - t1
  const t2 = now()
  await getAll(log, offsets, gets)
  const tGet = now() - t2
  await closeLog(log)

  emit({
    system: 'ssb-db2',
    phase: 'rawlog',
    rows: {
      'rawlog.append.ms': tAppend,
      'rawlog.scan.ms': tScan,
      'rawlog.get.us': (tGet * 1000) / gets,
    },
    info: { n, size, gets, scanned: scanned.count, file_bytes: fs.statSync(file).size },
    memory: memory(),
  })
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
