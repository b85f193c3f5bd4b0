// Helpers shared by the Node side of the comparison harness: clock, memory from the OS,
// argument parsing and the one-JSON-line output that the Rust runner reads.
'use strict'

const fs = require('fs')

function now() {
  return Number(process.hrtime.bigint()) / 1e6
}

// Peak and current resident memory from /proc/self/status, in KiB.
function memory() {
  const status = fs.readFileSync('/proc/self/status', 'utf8')
  const kib = (field) => {
    const m = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
    return m ? Number(m[1]) : null
  }
  return {
    vm_hwm_kib: kib('VmHWM'),
    rss_anon_kib: kib('RssAnon'),
    rss_file_kib: kib('RssFile'),
  }
}

// `--key value` pairs into an object.
function parseArgs(argv) {
  const args = {}
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--')) throw new Error(`expected --flag, got ${argv[i]}`)
    args[argv[i].slice(2)] = argv[i + 1]
  }
  return args
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

module.exports = { now, memory, parseArgs, median, emit }
