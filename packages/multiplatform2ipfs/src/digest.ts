import { createHash } from 'node:crypto'
import { DigestMismatchError, InvalidDigestError, SizeMismatchError } from './errors.js'

/** A content digest; only sha256 is accepted because IPFS raw CIDs and Docker both use it. */
export type Digest = `sha256:${string}`

export interface Expected {
  digest: Digest
  size: number
}

const SHA256 = /^sha256:[a-f0-9]{64}$/
// the OCI grammar for any algorithm, so we can tell "unsupported" from "malformed"
const ANY_ALGORITHM = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/

export function isDigest (value: unknown): value is Digest {
  return typeof value === 'string' && SHA256.test(value)
}

/** Validates `sha256:<64 lowercase hex>` and explains what is wrong otherwise. */
export function parseDigest (value: string): Digest {
  if (isDigest(value)) {
    return value
  }
  if (!ANY_ALGORITHM.test(value)) {
    throw new InvalidDigestError(`invalid digest "${value}": expected "sha256:" followed by 64 lowercase hex characters`)
  }
  const [algorithm, encoded = ''] = value.split(':')
  if (algorithm !== 'sha256') {
    throw new InvalidDigestError(`unsupported digest algorithm "${algorithm}" in "${value}": only sha256 is supported`)
  }
  throw new InvalidDigestError(`invalid sha256 digest "${value}": the hex part must be 64 lowercase hex characters, got ${encoded.length} characters`)
}

export function digestHex (digest: Digest): string {
  return digest.slice('sha256:'.length)
}

export function sha256Digest (bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

/** Checks bytes held in memory (manifests) against a descriptor. */
export function verifyBytes (bytes: Uint8Array, expected: Expected): void {
  if (bytes.byteLength !== expected.size) {
    throw new SizeMismatchError(`size mismatch for ${expected.digest}: expected ${expected.size} bytes, got ${bytes.byteLength}`)
  }
  const actual = sha256Digest(bytes)
  if (actual !== expected.digest) {
    throw new DigestMismatchError(`digest mismatch: expected ${expected.digest}, content hashes to ${actual}`)
  }
}

/** An incremental sha256: `update` in stream order, then the hex digest once. */
export interface StreamHasher {
  update(chunk: Uint8Array): void
  digest(): Promise<string> | string
}

export interface VerifyOptions {
  signal?: AbortSignal
  /** Where the stream is hashed (default: node:crypto on this thread) */
  hasher?: StreamHasher
}

/**
 * Passes chunks through while hashing and counting them. Fails as soon as more bytes than
 * expected arrive (a hostile upstream cannot make us store unbounded data) and, at the end,
 * on a short body or a wrong digest. Consumers must treat nothing as valid until this ends.
 */
export async function * verifyStream (source: AsyncIterable<Uint8Array>, expected: Expected, options: VerifyOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const hash = options.hasher ?? localHasher()
  let received = 0
  for await (const chunk of source) {
    options.signal?.throwIfAborted()
    received += chunk.byteLength
    if (received > expected.size) {
      throw new SizeMismatchError(`size mismatch for ${expected.digest}: expected ${expected.size} bytes, received more (${received} so far)`)
    }
    hash.update(chunk)
    yield chunk
  }
  if (received !== expected.size) {
    throw new SizeMismatchError(`size mismatch for ${expected.digest}: expected ${expected.size} bytes, got ${received}`)
  }
  const actual: Digest = `sha256:${await hash.digest()}`
  if (actual !== expected.digest) {
    throw new DigestMismatchError(`digest mismatch: expected ${expected.digest}, content hashes to ${actual}`)
  }
}

function localHasher (): StreamHasher {
  const hash = createHash('sha256')
  return { update: chunk => { hash.update(chunk) }, digest: () => hash.digest('hex') }
}
