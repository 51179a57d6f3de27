// The work every byte a node fetches from another must get, whatever the code around it: the
// private network's XSalsa20 on both ends, noise's ChaCha20-Poly1305 sealed and opened, the
// fetcher's sha256 check against the CID, and TCP over loopback (both ends). Measured here, in
// hot loops over one buffer (cache-warm, no allocation: a lower bound), with the implementations
// the node uses (libsodium through sodium-native, Node's OpenSSL), so bench/transfer can show how
// much of its CPU target the protocols leave to everything else (issue 15).
import { createHash, randomFillSync } from 'node:crypto'
import net from 'node:net'
import sodium from 'sodium-native'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
/** Noise's largest plaintext: a transport message is at most 65535 bytes, its tag included */
const NOISE_PLAINTEXT = 65535 - 16

function cpuSeconds () {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/** CPU-seconds per GiB of `fn(chunk)` over `total` bytes in chunks of `chunk` bytes */
function perGiB (total, chunk, fn) {
  const rounds = Math.ceil(total / chunk)
  const c0 = cpuSeconds()
  for (let i = 0; i < rounds; i++) fn()
  return (cpuSeconds() - c0) * GiB / (rounds * chunk)
}

function aead (total) {
  const key = randomFillSync(Buffer.alloc(32))
  const nonce = Buffer.alloc(12)
  const message = randomFillSync(Buffer.alloc(NOISE_PLAINTEXT))
  const sealed = Buffer.alloc(NOISE_PLAINTEXT)
  const tag = Buffer.alloc(16)
  const seal = perGiB(total, NOISE_PLAINTEXT, () => {
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(sealed, tag, message, null, null, nonce, key)
  })
  const opened = Buffer.alloc(NOISE_PLAINTEXT)
  const open = perGiB(total, NOISE_PLAINTEXT, () => {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(opened, null, sealed, tag, null, nonce, key)
  })
  return seal + open
}

function xsalsa20 (total) {
  const state = Buffer.alloc(sodium.crypto_stream_xor_STATEBYTES)
  sodium.crypto_stream_xor_init(state, randomFillSync(Buffer.alloc(24)), randomFillSync(Buffer.alloc(32)))
  const bytes = randomFillSync(Buffer.alloc(64 * 1024))
  // both ends: the sender's encryption and the receiver's decryption cost the same
  return 2 * perGiB(total, bytes.byteLength, () => { sodium.crypto_stream_xor_update(state, bytes, bytes) })
}

function sha256 (total) {
  const block = randomFillSync(Buffer.alloc(256 * 1024))
  return perGiB(total, block.byteLength, () => { createHash('sha256').update(block).digest() })
}

/** Both ends of one loopback TCP connection in this process: what the kernel and Node's reads cost */
async function loopbackTcp (total) {
  const server = net.createServer()
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
  const c0 = cpuSeconds()
  const received = new Promise((resolve, reject) => {
    server.once('connection', socket => {
      let bytes = 0
      socket.on('data', chunk => { bytes += chunk.byteLength })
      socket.once('end', () => { socket.end(); resolve(bytes) })
      socket.once('error', reject)
    })
  })
  const client = net.connect(server.address().port, '127.0.0.1')
  const chunk = Buffer.alloc(256 * 1024, 7)
  for (let sent = 0; sent < total; sent += chunk.byteLength) {
    if (!client.write(chunk)) await new Promise(resolve => client.once('drain', resolve))
  }
  client.end()
  const bytes = await received
  const seconds = cpuSeconds() - c0
  client.destroy()
  server.close()
  return seconds * GiB / bytes
}

/**
 * CPU-seconds per GiB of each part and their sum. `total` bytes per part (default 256 MiB: about
 * a second in all on this machine).
 */
export async function requiredWork (total = 256 * MiB) {
  const parts = {
    'noise AEAD seal+open': aead(total),
    'pnet XSalsa20 both ends': xsalsa20(total),
    'sha256 check': sha256(total),
    'loopback TCP both ends': await loopbackTcp(total)
  }
  return { parts, total: Object.values(parts).reduce((a, b) => a + b, 0) }
}
