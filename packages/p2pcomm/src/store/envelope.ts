import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import * as cborg from 'cborg'
import { MAX_KEY_LENGTH, MAX_VALUE_BYTES } from '../constants.js'
import { compareVersions, type Version } from './hlc.js'

/**
 * A record as it travels and rests: the key, the value (JSON text, absent on a tombstone), its
 * author's peer ID, a version that only grows per key, and the author's Ed25519 signature over
 * all of that. The value stays the exact text that was signed, so nothing is re-serialised
 * before it is verified.
 *
 * Wire form (CBOR): [1, key, author, version.ms, version.n, value | null, signature]
 */
export interface Envelope {
  key: string
  /** JSON text; undefined for a tombstone (a signed delete) */
  value?: string
  author: string
  version: Version
  signature: Uint8Array
}

const FORMAT = 1
const DOMAIN = 'distromash/record/1'
const SIGNATURE_BYTES = 64
/** Key, value and signature, with room for the author and the CBOR framing */
export const MAX_ENVELOPE_BYTES = MAX_VALUE_BYTES + MAX_KEY_LENGTH * 4 + 512

/** The bytes an author signs: a domain tag so a record signature can never pass for another kind */
function signingBytes (e: Omit<Envelope, 'signature'>): Uint8Array {
  return cborg.encode([DOMAIN, e.key, e.author, e.version.ms, e.version.n, e.value ?? null])
}

export async function signEnvelope (key: PrivateKey, author: string, record: Omit<Envelope, 'signature' | 'author'>): Promise<Envelope> {
  const unsigned = { ...record, author }
  return { ...unsigned, signature: await key.sign(signingBytes(unsigned)) }
}

export function encodeEnvelope (e: Envelope): Uint8Array {
  return cborg.encode([FORMAT, e.key, e.author, e.version.ms, e.version.n, e.value ?? null, e.signature])
}

/** The envelope, or a reason it is malformed. Checks shape and sizes only, not the signature. */
export function decodeEnvelope (bytes: Uint8Array): Envelope | string {
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) return 'envelope too large'
  let decoded: unknown
  try {
    decoded = cborg.decode(bytes)
  } catch {
    return 'undecodable envelope'
  }
  if (!Array.isArray(decoded) || decoded.length !== 7 || decoded[0] !== FORMAT) return 'not a record envelope'
  const [, key, author, ms, n, value, signature] = decoded as unknown[]
  if (typeof key !== 'string' || typeof author !== 'string' || author.length > 128) return 'bad key or author'
  if (!isCounter(ms) || !isCounter(n)) return 'bad version'
  if (value !== null && typeof value !== 'string') return 'value is not JSON text'
  if (!(signature instanceof Uint8Array) || signature.byteLength !== SIGNATURE_BYTES) return 'bad signature field'
  return { key, author, version: { ms, n }, ...(value === null ? {} : { value }), signature }
}

function isCounter (x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

/**
 * Verifies signatures against the author's peer ID, which for Ed25519 holds the public key
 * itself: no key distribution is needed. Parsed keys are cached (bounded).
 */
export class EnvelopeVerifier {
  private readonly keys = new Map<string, PublicKey | null>()

  constructor (private readonly cacheSize = 4096) {}

  async verify (e: Envelope): Promise<boolean> {
    const key = this.publicKey(e.author)
    if (key == null) return false
    try {
      return await key.verify(signingBytes(e), e.signature)
    } catch {
      return false
    }
  }

  private publicKey (author: string): PublicKey | null {
    let key = this.keys.get(author)
    if (key !== undefined) return key
    try {
      const id = peerIdFromString(author)
      key = id.type === 'Ed25519' ? id.publicKey : null
    } catch {
      key = null
    }
    if (this.keys.size >= this.cacheSize) this.keys.delete(this.keys.keys().next().value as string)
    this.keys.set(author, key)
    return key
  }
}

/** Total order over records of one key: version, then author (two writers in the same tick) */
export function compareEnvelopes (a: Pick<Envelope, 'version' | 'author'>, b: Pick<Envelope, 'version' | 'author'>): number {
  return compareVersions(a.version, b.version) || (a.author < b.author ? -1 : a.author > b.author ? 1 : 0)
}
