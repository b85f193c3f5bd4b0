// Prints a deterministic secret-handshake test vector computed by the reference JS
// implementation (secret-handshake/crypto.js over libsodium), for sluice-net's unit tests.
// Usage: node shs-vectors.js
'use strict'
const shs = require('secret-handshake/crypto')
const sodium = require('chloride')

const appKey = Buffer.from('d4a1cb88a66f02f8db635ce26441cc5dac1b08420ceaac230839b755845a9ffb', 'hex')
const seed = (b) => Buffer.alloc(32, b)
const clientKeys = sodium.crypto_sign_seed_keypair(seed(1))
const serverKeys = sodium.crypto_sign_seed_keypair(seed(2))

const client = shs.initialize({ app_key: appKey, local: clientKeys, remote: { publicKey: serverKeys.publicKey }, random: seed(3) })
const server = shs.initialize({ app_key: appKey, local: serverKeys, random: seed(4) })

const msg1 = shs.createChallenge(client)
shs.verifyChallenge(server, msg1)
const msg2 = shs.createChallenge(server)
shs.clientVerifyChallenge(client, msg2)
const msg3 = shs.clientCreateAuth(client)
shs.serverVerifyAuth(server, msg3)
const msg4 = shs.serverCreateAccept(server)
if (!shs.clientVerifyAccept(client, msg4)) throw new Error('accept did not verify')
shs.clean(client)
const hex = (b) => Buffer.from(b).toString('hex')
console.log(JSON.stringify({
  msg1: hex(msg1),
  msg2: hex(msg2),
  msg3: hex(msg3),
  msg4: hex(msg4),
  client_encrypt_key: hex(client.encryptKey),
  client_encrypt_nonce: hex(client.remote.app_mac.slice(0, 24)),
  client_decrypt_key: hex(client.decryptKey),
  client_decrypt_nonce: hex(client.local.app_mac.slice(0, 24)),
}, null, 2))

// A box-stream vector: "hello box stream" then goodbye, boxed with the client's send key.
const pull = require('pull-stream')
const boxes = require('pull-box-stream')
pull(
  pull.values([Buffer.from('hello box stream')]),
  boxes.createBoxStream(client.encryptKey, client.remote.app_mac.slice(0, 24)),
  pull.collect((err, chunks) => {
    if (err) throw err
    console.log(JSON.stringify({ box_stream: hex(Buffer.concat(chunks)) }))
  })
)
