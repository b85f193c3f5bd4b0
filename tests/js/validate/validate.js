// Reads message values as JSON lines on stdin; validates them in order as a chain per author
// with ssb-validate 4 (optional HMAC key as argv[2]); prints {"valid":bool,"error":string|null}
// per line.
const readline = require('readline')
const validate = require('ssb-validate')

const hmacKey = process.argv[2] || null
let state = validate.initial()
const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  if (!line.trim()) return
  let verdict
  try {
    state = validate.append(state, hmacKey, JSON.parse(line))
    verdict = { valid: true, error: null }
  } catch (err) {
    verdict = { valid: false, error: String(err.message || err) }
  }
  process.stdout.write(JSON.stringify(verdict) + '\n')
})
