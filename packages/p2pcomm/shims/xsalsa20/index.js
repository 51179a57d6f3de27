// A streaming XSalsa20 with the API of the `xsalsa20` package (`xsalsa20(nonce, key).update(input)`),
// built on @noble/ciphers. @libp2p/pnet XORs every byte of a private-network connection with it.
// The original package runs in WebAssembly with memory capped at 1000 pages; a large read made
// Memory.grow() throw inside a socket handler and the node died. This one allocates per call.
import { xsalsa20 as xor } from '@noble/ciphers/salsa.js'

const BLOCK = 64

class XSalsa20 {
  constructor (nonce, key) {
    if (nonce == null || nonce.length < 24) throw new Error('nonce must be at least 24 bytes')
    if (key == null || key.length < 32) throw new Error('key must be at least 32 bytes')
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
  return new XSalsa20(nonce, key)
}

xsalsa20.NONCEBYTES = 24
xsalsa20.KEYBYTES = 32
