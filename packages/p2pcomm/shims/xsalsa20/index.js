// A streaming XSalsa20 with the API of the `xsalsa20` package (`xsalsa20(nonce, key).update(input)`).
// @libp2p/pnet XORs every byte of a private-network connection with it, so its speed is the
// mesh's ceiling. The original package runs in WebAssembly with memory capped at 1000 pages; a
// large read made Memory.grow() throw inside a socket handler and the node died.
// Here: libsodium's streaming xsalsa20 through sodium-native (its prebuilt addon ships in the npm
// package; ~2 GiB/s), or @noble/ciphers in pure JS (~160 MiB/s) where the addon does not load.
import { xsalsa20 as xor } from '@noble/ciphers/salsa.js'

let sodium = null
try {
  sodium = (await import('sodium-native')).default
} catch {
  // no prebuilt addon for this platform or runtime: the pure JS cipher below
}

const BLOCK = 64

function checkInputs (nonce, key) {
  if (nonce == null || nonce.length < 24) throw new Error('nonce must be at least 24 bytes')
  if (key == null || key.length < 32) throw new Error('key must be at least 32 bytes')
}

class NativeXSalsa20 {
  constructor (nonce, key) {
    checkInputs(nonce, key)
    this.state = new Uint8Array(sodium.crypto_stream_xor_STATEBYTES)
    sodium.crypto_stream_xor_init(this.state, nonce.subarray(0, 24), key.subarray(0, 32))
  }

  update (input, output) {
    if (input == null) throw new Error('input must be Uint8Array or Buffer')
    const out = output ?? new Uint8Array(input.length)
    sodium.crypto_stream_xor_update(this.state, out, input)
    return out
  }

  finalize () {
    sodium.crypto_stream_xor_final(this.state)
  }
}

NativeXSalsa20.prototype.final = NativeXSalsa20.prototype.finalize

class XSalsa20 {
  constructor (nonce, key) {
    checkInputs(nonce, key)
    this.nonce = Uint8Array.from(nonce.subarray(0, 24))
    this.key = Uint8Array.from(key.subarray(0, 32))
    this.position = 0
  }

  update (input, output) {
    if (input == null) throw new Error('input must be Uint8Array or Buffer')
    const out = output ?? new Uint8Array(input.length)
    let done = 0
    const offset = this.position % BLOCK
    if (offset !== 0 && input.length > 0) {
      // finish the keystream block the previous call stopped inside
      const block = xor(this.key, this.nonce, new Uint8Array(BLOCK), undefined, Math.floor(this.position / BLOCK))
      done = Math.min(BLOCK - offset, input.length)
      for (let i = 0; i < done; i++) out[i] = input[i] ^ block[offset + i]
    }
    if (done < input.length) {
      const counter = (this.position + done) / BLOCK
      xor(this.key, this.nonce, input.subarray(done), out.subarray(done), counter)
    }
    this.position += input.length
    return out
  }

  finalize () {
    this.key.fill(0)
  }
}

XSalsa20.prototype.final = XSalsa20.prototype.finalize

export default function xsalsa20 (nonce, key) {
  return sodium != null ? new NativeXSalsa20(nonce, key) : new XSalsa20(nonce, key)
}

/** The pure JS cipher, whatever is installed (tests compare both) */
export function xsalsa20Js (nonce, key) {
  return new XSalsa20(nonce, key)
}

/** Which cipher xsalsa20() returns: 'libsodium' or 'noble' */
export const implementation = sodium != null ? 'libsodium' : 'noble'

xsalsa20.NONCEBYTES = 24
xsalsa20.KEYBYTES = 32
