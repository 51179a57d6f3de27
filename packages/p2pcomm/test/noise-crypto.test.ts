import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { MessageStream } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { noise } from '@libp2p/noise'
import { defaultCrypto } from '@libp2p/noise/crypto'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { noiseCipher, noiseCrypto } from '../src/noise-crypto.js'

const k = randomBytes(32)
const nonce = randomBytes(12)
const ad = new Uint8Array(0)
const frame = randomBytes(65_519) // noise's largest plaintext

const seal = (crypto: typeof noiseCrypto, plaintext: Uint8Array | Uint8ArrayList): Buffer => Buffer.from(new Uint8ArrayList(crypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)).subarray())
const open = (crypto: typeof noiseCrypto, ciphertext: Uint8Array | Uint8ArrayList, dst?: Uint8Array): Buffer => Buffer.from(new Uint8ArrayList(crypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)).subarray())

describe('noise ChaCha20-Poly1305 on libsodium', () => {
  it('runs on libsodium here (the addon ships prebuilt for linux-x64)', () => {
    expect(process.platform === 'linux' && process.arch === 'x64' ? noiseCipher : 'libsodium').toBe('libsodium')
  })

  it('seals exactly as noise\'s own crypto does, from one buffer or a list', () => {
    const expected = seal(defaultCrypto, frame)
    expect(seal(noiseCrypto, frame)).toEqual(expected)
    expect(seal(noiseCrypto, new Uint8ArrayList(frame.subarray(0, 12), frame.subarray(12, 40_000), frame.subarray(40_000)))).toEqual(expected)
    const kept = Buffer.from(frame)
    expect(seal(noiseCrypto, new Uint8ArrayList(frame))).toEqual(expected)
    expect(frame).toEqual(kept) // sealed from where it lies, not over it
  })

  it('opens what noise\'s own crypto sealed, in place in the buffer noise passes (a view, or a copy of a frame that spanned reads)', () => {
    const sealed = seal(defaultCrypto, frame)
    const inPlace = Buffer.from(sealed)
    const view = inPlace.subarray(0, frame.byteLength)
    const opened = noiseCrypto.chaCha20Poly1305Decrypt(inPlace, nonce, ad, k, view)
    expect(opened).toBe(view) // no new buffer; noise's own crypto on Node returns a fresh one
    expect(Buffer.from(view)).toEqual(frame)

    const spanning = new Uint8ArrayList(sealed.subarray(0, 30_000), sealed.subarray(30_000, 65_530), sealed.subarray(65_530))
    expect(open(noiseCrypto, spanning, spanning.subarray(0, frame.byteLength))).toEqual(frame)
    expect(open(noiseCrypto, sealed)).toEqual(frame) // the handshake passes no dst
    expect(open(defaultCrypto, seal(noiseCrypto, frame))).toEqual(frame)
  })

  it('fails on a tampered frame, or a dst that does not hold the ciphertext, and never returns bytes', () => {
    const sealed = seal(noiseCrypto, frame)
    const tampered = Buffer.from(sealed)
    tampered[100] = (tampered[100] ?? 0) ^ 1
    expect(() => open(noiseCrypto, tampered)).toThrow(/Invalid chacha20poly1305 decryption/)
    expect(() => open(noiseCrypto, sealed, new Uint8Array(frame.byteLength))).toThrow(/Invalid chacha20poly1305 decryption/)
    expect(() => open(noiseCrypto, sealed.subarray(0, 10))).toThrow(/Invalid chacha20poly1305 decryption/)
  })

  it('a noise connection between it and noise\'s own crypto carries 4 MiB each way intact', async () => {
    const [outbound, inbound] = multiaddrConnectionPair()
    const encrypter = async (crypto: typeof noiseCrypto): Promise<ReturnType<ReturnType<typeof noise>>> => noise({ crypto })({
      privateKey: await generateKeyPair('Ed25519'), logger: defaultLogger(), upgrader: { getStreamMuxers: () => new Map() }
    } as unknown as Parameters<ReturnType<typeof noise>>[0])
    const [ours, theirs] = await Promise.all([encrypter(noiseCrypto), encrypter(defaultCrypto)])
    const [a, b] = await Promise.all([
      ours.secureOutbound(outbound, { skipStreamMuxerNegotiation: true }),
      theirs.secureInbound(inbound, { skipStreamMuxerNegotiation: true })
    ])
    const payload = randomBytes(4 * 1024 * 1024)
    const [atB, atA] = await Promise.all([receive(b.connection, payload.byteLength), receive(a.connection, payload.byteLength), send(a.connection, payload), send(b.connection, payload)])
    // equals(), not toEqual: a deep comparison of 4 MiB took over 30 s on a loaded machine
    expect(atB.equals(payload)).toBe(true)
    expect(atA.equals(payload)).toBe(true)
  })
})

async function send (stream: MessageStream, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.byteLength; at += 100_000) {
    if (!stream.send(bytes.subarray(at, at + 100_000))) await new Promise(resolve => { stream.addEventListener('drain', resolve, { once: true }) })
  }
}

async function receive (stream: MessageStream, total: number): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  let received = 0
  await new Promise<void>(resolve => {
    stream.addEventListener('message', evt => {
      const chunk = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      chunks.push(Uint8Array.from(chunk))
      received += chunk.byteLength
      if (received >= total) resolve()
    })
  })
  return Buffer.concat(chunks)
}
