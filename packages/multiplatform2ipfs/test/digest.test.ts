import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { parseDigest, sha256Digest, verifyBytes, verifyStream, type Digest } from '../src/digest.js'
import { DigestMismatchError, InvalidDigestError, SizeMismatchError } from '../src/errors.js'

const bytes = new TextEncoder().encode('hello world')
const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest

async function * chunks (...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield * parts
}

async function drain (source: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0
  for await (const chunk of source) n += chunk.byteLength
  return n
}

describe('parseDigest', () => {
  it('accepts sha256 with 64 lowercase hex', () => {
    expect(parseDigest(digest)).toBe(digest)
    expect(sha256Digest(bytes)).toBe(digest)
  })

  it.each([
    ['', /expected "sha256:"/],
    ['sha256', /expected "sha256:"/],
    [`sha256:${'a'.repeat(63)}`, /got 63 characters/],
    [`sha256:${'a'.repeat(65)}`, /got 65 characters/],
    [`sha256:${'A'.repeat(64)}`, /lowercase hex/],
    [`sha256:${'g'.repeat(64)}`, /lowercase hex/],
    [`sha512:${'a'.repeat(128)}`, /unsupported digest algorithm "sha512"/],
    [`md5:${'a'.repeat(32)}`, /unsupported digest algorithm "md5"/],
    [` ${digest}`, /expected "sha256:"/]
  ])('rejects %j', (input, message) => {
    expect(() => parseDigest(input)).toThrow(InvalidDigestError)
    expect(() => parseDigest(input)).toThrow(message)
  })
})

describe('verifyBytes', () => {
  it('passes matching bytes and names each mismatch', () => {
    expect(() => { verifyBytes(bytes, { digest, size: bytes.byteLength }) }).not.toThrow()
    expect(() => { verifyBytes(bytes, { digest, size: 3 }) }).toThrow(SizeMismatchError)
    expect(() => { verifyBytes(bytes, { digest: sha256Digest(new Uint8Array(11)), size: 11 }) }).toThrow(DigestMismatchError)
  })
})

describe('verifyStream', () => {
  it('passes chunks through when size and digest match', async () => {
    const out: Uint8Array[] = []
    for await (const chunk of verifyStream(chunks(bytes.subarray(0, 4), bytes.subarray(4)), { digest, size: bytes.byteLength })) out.push(chunk)
    expect(Buffer.concat(out).toString()).toBe('hello world')
  })

  it('throws DigestMismatchError at the end for wrong content of the right size', async () => {
    const wrong = new TextEncoder().encode('hello World')
    await expect(drain(verifyStream(chunks(wrong), { digest, size: 11 }))).rejects.toThrow(DigestMismatchError)
  })

  it('throws SizeMismatchError for a short body', async () => {
    await expect(drain(verifyStream(chunks(bytes.subarray(0, 5)), { digest, size: 11 }))).rejects.toThrow(/expected 11 bytes, got 5/)
  })

  it('throws SizeMismatchError as soon as the size is exceeded, without reading on', async () => {
    let pulled = 0
    async function * endless (): AsyncGenerator<Uint8Array> {
      for (;;) { pulled++; yield new Uint8Array(1024) }
    }
    await expect(drain(verifyStream(endless(), { digest, size: 4096 }))).rejects.toThrow(SizeMismatchError)
    expect(pulled).toBe(5)
  })

  it('stops when aborted', async () => {
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    await expect(drain(verifyStream(chunks(bytes), { digest, size: 11 }, { signal: controller.signal }))).rejects.toThrow('stop')
  })
})
