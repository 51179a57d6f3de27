/*
 * The noise transport's ChaCha20-Poly1305 on libsodium (sodium-native, the addon the private
 * network's cipher already uses), everything else @libp2p/noise's own. The same AEAD (RFC 8439),
 * so it interoperates with every noise peer.
 *
 * Why (issue 15, CPU per byte moved): Node's cipher API cannot write into a given buffer. Noise
 * then allocated, per 64 KiB frame, the plaintext on receipt (though it hands the decrypter a
 * buffer to decrypt into) and, on sending, the ciphertext and a second buffer it is copied into
 * beside its tag. libsodium decrypts in that buffer and seals into one.
 */
import { defaultCrypto } from '@libp2p/noise/crypto'
import type { ICryptoInterface } from '@libp2p/noise'
import type { Uint8ArrayList } from 'uint8arraylist'

const TAG_BYTES = 16

interface SodiumAead {
  crypto_aead_chacha20poly1305_ietf_encrypt_detached: (c: Uint8Array, mac: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array) => number
  crypto_aead_chacha20poly1305_ietf_decrypt_detached: (m: Uint8Array, nsec: null, c: Uint8Array, mac: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array) => void
}

/** The addon, or undefined where it does not load (noise then runs on Node's OpenSSL, as before) */
async function loadSodium (): Promise<SodiumAead | undefined> {
  try {
    // @ts-expect-error sodium-native ships no types
    return (await import('sodium-native')).default as SodiumAead
  } catch {
    return undefined
  }
}

const sodium = await loadSodium()

/** Which implementation seals noise frames: 'libsodium', or 'openssl' where the addon is missing */
export const noiseCipher: 'libsodium' | 'openssl' = sodium != null ? 'libsodium' : 'openssl'

/** @libp2p/noise's crypto with libsodium's ChaCha20-Poly1305 where the addon loads */
export const noiseCrypto: ICryptoInterface = sodium == null ? defaultCrypto : { ...defaultCrypto, chaCha20Poly1305Encrypt: seal(sodium), chaCha20Poly1305Decrypt: open(sodium) }

function seal (aead: SodiumAead): ICryptoInterface['chaCha20Poly1305Encrypt'] {
  return (plaintext, nonce, ad, k) => {
    const length = plaintext.byteLength
    const sealed = Buffer.allocUnsafe(length + TAG_BYTES)
    const body = sealed.subarray(0, length)
    // noise hands over a list: one part (a frame inside a block) is sealed from where it lies,
    // several (a yamux header and its data) are laid into the output and sealed in place
    const input = plaintext instanceof Uint8Array ? plaintext : onlyPart(plaintext) ?? copyInto(plaintext, body)
    aead.crypto_aead_chacha20poly1305_ietf_encrypt_detached(body, sealed.subarray(length), input, ad, null, nonce, k)
    return sealed
  }
}

function open (aead: SodiumAead): ICryptoInterface['chaCha20Poly1305Decrypt'] {
  return (ciphertext, nonce, ad, k, dst) => {
    const length = ciphertext.byteLength - TAG_BYTES
    if (length < 0) throw new Error('Invalid chacha20poly1305 decryption')
    const tag = ciphertext.subarray(length)
    // Noise's transport passes `dst` holding the frame's ciphertext (a view of it, or a copy
    // when the frame spans reads): decrypted there, in place. Were it anything else, the tag
    // would not verify over it and the frame would fail, never decrypt to wrong bytes.
    const body = dst?.byteLength === length ? dst : contiguous(ciphertext, length)
    try {
      aead.crypto_aead_chacha20poly1305_ietf_decrypt_detached(body, null, body, tag, ad, nonce, k)
    } catch {
      throw new Error('Invalid chacha20poly1305 decryption')
    }
    return body
  }
}

/** The first `length` bytes as one fresh buffer (the handshake decrypts without `dst`) */
function contiguous (bytes: Uint8Array | Uint8ArrayList, length: number): Uint8Array {
  return copyInto(bytes instanceof Uint8Array ? [bytes.subarray(0, length)] : bytes.sublist(0, length), Buffer.allocUnsafe(length))
}

function onlyPart (list: Uint8ArrayList): Uint8Array | undefined {
  for (const part of list) return part.byteLength === list.byteLength ? part : undefined
  return undefined
}

function copyInto (parts: Iterable<Uint8Array>, out: Uint8Array): Uint8Array {
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.byteLength
  }
  return out
}
