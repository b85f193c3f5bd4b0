// The ssb-db2 side of the comparison harness: runs ONE phase in this fresh process and prints
// one JSON line `{"system":"ssb-db2","phase":…,"rows":{name: number},"info":{…}}` on stdout.
// Started by the Rust runner (benches/src/bin/compare.rs); see README.md for the phases.
//
//   node ssb-db2.js import   --dir D --jsonl FILE
//   node ssb-db2.js migrate  --dir D            (D/flume/log.offset prepared by the runner)
//   node ssb-db2.js reindex  --dir D            (deletes D/db2/indexes and D/db2/jit first)
//   node ssb-db2.js queries  --dir D --targets FILE [--iters 5]
//   node ssb-db2.js open     --dir D --targets FILE
'use strict'

const fs = require('fs')
const path = require('path')
const readline = require('readline')
const SecretStack = require('secret-stack')
const caps = require('ssb-caps')
const ssbKeys = require('ssb-keys')
const {
  where,
  and,
  author,
  type,
  descending,
  paginate,
  toCallback,
  hasRoot,
  votesFor,
} = require('ssb-db2/operators')
const { now, memory, parseArgs, median, emit } = require('./common')

// How many adds may wait in ssb-db2's per-feed batching queues at once: enough to keep
// its validator busy, bounded so the reader does not hold the whole file in memory.
const ADD_WINDOW = 20000

function openDb(dir, opts = {}) {
  const config = {
    path: dir,
    keys: ssbKeys.generate(),
    db2: { automigrate: false, ...opts.db2 },
  }
  let stack = SecretStack({ caps }).use(require('ssb-db2'))
  if (opts.fullMentions) stack = stack.use(require('ssb-db2/full-mentions'))
  return stack.call(null, config)
}

function drain(sbot, index) {
  return new Promise((resolve) => sbot.db.onDrain(index, () => resolve()))
}

function query(sbot, ...ops) {
  return new Promise((resolve, reject) =>
    sbot.db.query(
      ...ops,
      toCallback((err, res) => (err ? reject(err) : resolve(res)))
    )
  )
}

function getMsg(sbot, id) {
  return new Promise((resolve, reject) =>
    sbot.db.getMsg(id, (err, m) => (err ? reject(err) : resolve(m)))
  )
}

function close(sbot) {
  return new Promise((resolve) => sbot.close(true, () => resolve()))
}

// Validated add of every line of a JSON-lines file, ADD_WINDOW adds in flight at most.
async function addAll(sbot, jsonl) {
  const rl = readline.createInterface({ input: fs.createReadStream(jsonl) })
  let inFlight = 0
  let added = 0
  let failed = 0
  let firstError = null
  let wake = null
  const settle = (err) => {
    inFlight -= 1
    if (err) {
      failed += 1
      firstError = firstError || String(err.cause || err)
    } else added += 1
    if (wake && inFlight < ADD_WINDOW / 2) wake()
  }
  for await (const line of rl) {
    if (!line.trim()) continue
    const kvt = JSON.parse(line)
    inFlight += 1
    sbot.db.add(kvt.value, settle)
    if (inFlight >= ADD_WINDOW) await new Promise((r) => (wake = r))
    wake = null
  }
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 5))
  return { added, failed, firstError }
}

async function phaseImport(args) {
  const sbot = openDb(args.dir)
  const t0 = now()
  const res = await addAll(sbot, args.jsonl)
  const tAdded = now()
  await drain(sbot, 'base')
  await drain(sbot, 'keys')
  const t1 = now()
  await close(sbot)
  return {
    rows: { 'import.ms': t1 - t0 },
    info: { ...res, add_ms: tAdded - t0, index_ms: t1 - tAdded },
  }
}

async function phaseMigrate(args) {
  const t0 = now()
  const sbot = openDb(args.dir)
  await new Promise((resolve) => {
    sbot.db2migrate.start()
    sbot.db2migrate.synchronized((done) => {
      if (done) resolve()
    })
  })
  const tLog = now()
  await drain(sbot, 'base')
  await drain(sbot, 'keys')
  const t1 = now()
  const log = path.join(args.dir, 'db2', 'log.bipf')
  sbot.db2migrate.stop() // ends its live copy of new old-log messages, or close() waits on it
  await close(sbot)
  return {
    rows: { 'migrate.ms': t1 - t0 },
    info: { log_ms: tLog - t0, log_bytes: fs.statSync(log).size },
  }
}

// Builds the leveldb indexes (base, keys, full-mentions) and the jitdb indexes that the
// queries below use, on a log whose indexes were deleted.
async function phaseReindex(args) {
  for (const sub of ['indexes', 'jit']) {
    fs.rmSync(path.join(args.dir, 'db2', sub), { recursive: true, force: true })
  }
  const targets = readTargets(args.targets)
  const t0 = now()
  const sbot = openDb(args.dir, { fullMentions: true })
  await drain(sbot, 'base')
  await drain(sbot, 'keys')
  const tCore = now()
  await drain(sbot, 'fullMentions')
  const tLevel = now()
  await runQueriesOnce(sbot, targets)
  const t1 = now()
  await close(sbot)
  return {
    rows: { 'reindex.ms': t1 - t0, 'reindex.core_ms': tCore - t0 },
    info: { full_mentions_ms: tLevel - tCore, jitdb_ms: t1 - tLevel },
  }
}

function readTargets(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

// ssb-friends' rule: the latest contact message per (source, dest) wins; blocking wins.
async function follows(sbot, feed) {
  const msgs = await query(sbot, where(and(author(feed), type('contact'))))
  const state = new Map()
  for (const m of msgs) {
    const c = m.value.content
    if (typeof c.contact !== 'string') continue
    state.set(c.contact, c.blocking ? false : c.following === true)
  }
  return [...state].filter(([, v]) => v).map(([k]) => k)
}

async function thread(sbot, root) {
  const head = await getMsg(sbot, root)
  const replies = await query(sbot, where(hasRoot(root)))
  return [head, ...replies]
}

async function gets(sbot, keys) {
  let n = 0
  for (const k of keys) if (await getMsg(sbot, k)) n += 1
  return n
}

function queryDefs(targets) {
  return {
    author_feed: (s) => query(s, where(author(targets.author))),
    latest_posts: (s) =>
      query(s, where(type('post')), descending(), paginate(50)).then((p) => p.results),
    thread: (s) => thread(s, targets.thread_root),
    votes: (s) => query(s, where(votesFor(targets.most_voted))),
    follows: (s) => follows(s, targets.main_feed),
    get_1000: (s) => gets(s, targets.keys),
  }
}

function answerSize(ans) {
  return Array.isArray(ans) ? ans.length : ans
}

async function runQueriesOnce(sbot, targets) {
  const sizes = {}
  for (const [name, run] of Object.entries(queryDefs(targets))) {
    sizes[name] = answerSize(await run(sbot))
  }
  return sizes
}

async function phaseQueries(args) {
  const targets = readTargets(args.targets)
  const iters = Number(args.iters || 5)
  const sbot = openDb(args.dir, { fullMentions: true })
  const sizes = await runQueriesOnce(sbot, targets) // warm-up: loads every index
  const rows = {}
  for (const [name, run] of Object.entries(queryDefs(targets))) {
    const times = []
    for (let i = 0; i < iters; i++) {
      const t0 = now()
      await run(sbot)
      times.push(now() - t0)
    }
    rows[`query.${name}.ms`] = median(times)
  }
  await close(sbot)
  return { rows, info: { answer_sizes: sizes, iters } }
}

async function phaseOpen(args) {
  const targets = readTargets(args.targets)
  const t0 = now()
  const sbot = openDb(args.dir, { fullMentions: true })
  const got = await getMsg(sbot, targets.keys[0])
  const tGet = now()
  const posts = await query(sbot, where(type('post')), descending(), paginate(50))
  const t1 = now()
  await close(sbot)
  return {
    rows: { 'open.first_get_ms': tGet - t0, 'open.first_query_ms': t1 - t0 },
    info: { got: !!got, posts: posts.results.length },
  }
}

const PHASES = {
  import: phaseImport,
  migrate: phaseMigrate,
  reindex: phaseReindex,
  queries: phaseQueries,
  open: phaseOpen,
}

async function main() {
  const [phase, ...rest] = process.argv.slice(2)
  const run = PHASES[phase]
  if (!run) throw new Error(`unknown phase ${phase}; one of ${Object.keys(PHASES)}`)
  const out = await run(parseArgs(rest))
  emit({ system: 'ssb-db2', phase, ...out, memory: memory() })
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
