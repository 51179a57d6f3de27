import { createHash, randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { HashPool } from '../src/hash-pool.js'
import { PiecePool } from '../src/pieces.js'

const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest()

/** `bytes` cut into pieces of `size` in shared memory, as the importer's PiecePool gives them */
function sharedPieces (bytes: Uint8Array, size: number): Uint8Array[] {
  const pool = new PiecePool(size)
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.byteLength; at += size) {
    const piece = pool.acquire()
    const part = bytes.subarray(at, at + size)
    piece.set(part)
    out.push(piece.subarray(0, part.byteLength))
  }
  return out
}

describe('HashPool', () => {
  let pool: HashPool | undefined
  afterEach(async () => { await pool?.close() })

  it('gives the sequential digests: the blob over all pieces, each piece on its own', async () => {
    pool = new HashPool({ size: 2 })
    const bytes = randomBytes(5 * 4096 + 123)
    const pieces = sharedPieces(bytes, 4096)
    const hasher = pool.session()
    for (const piece of pieces) hasher.update(piece)
    for (const piece of pieces) expect(Buffer.from(await hasher.pieceDigest(piece) as Uint8Array)).toEqual(sha256(piece))
    expect(await hasher.digest()).toBe(sha256(bytes).toString('hex'))
  })

  it('copies pieces that are not in shared memory, even views of a larger buffer', async () => {
    pool = new HashPool({ size: 1 })
    const bytes = randomBytes(3 * 1000)
    const hasher = pool.session()
    const views = [bytes.subarray(0, 1000), bytes.subarray(1000, 2000), bytes.subarray(2000)]
    for (const view of views) hasher.update(view)
    expect(Buffer.from(await hasher.pieceDigest(views[1] as Uint8Array) as Uint8Array)).toEqual(sha256(bytes.subarray(1000, 2000)))
    expect(await hasher.digest()).toBe(sha256(bytes).toString('hex'))
  })

  it('keeps interleaved blobs apart (more blobs than workers)', async () => {
    pool = new HashPool({ size: 2 })
    const blobs = [randomBytes(10_000), randomBytes(7_000), randomBytes(12_345)]
    const hashers = blobs.map(() => pool?.session())
    const cut = blobs.map(b => sharedPieces(b, 1024))
    for (let i = 0; i < 13; i++) {
      cut.forEach((pieces, b) => { const piece = pieces[i]; if (piece !== undefined) hashers[b]?.update(piece) })
    }
    const digests = await Promise.all(hashers.map(async h => await h?.digest()))
    expect(digests).toEqual(blobs.map(b => sha256(b).toString('hex')))
  })

  it('has no digest for bytes it was not given, and the empty blob\'s digest for no bytes', async () => {
    pool = new HashPool()
    const hasher = pool.session()
    expect(hasher.pieceDigest(new Uint8Array(4))).toBeUndefined()
    expect(await hasher.digest()).toBe(sha256(new Uint8Array(0)).toString('hex'))
  })

  it('ends idle workers and starts new ones for the next blob', async () => {
    pool = new HashPool({ size: 1, idleMs: 20 })
    const first = pool.session()
    first.update(Buffer.from('abc'))
    expect(await first.digest()).toBe(sha256(Buffer.from('abc')).toString('hex'))
    await new Promise(resolve => setTimeout(resolve, 100))
    const second = pool.session()
    second.update(Buffer.from('def'))
    expect(await second.digest()).toBe(sha256(Buffer.from('def')).toString('hex'))
  })
})

describe('HashPool.warm', () => {
  it('starts one worker ahead of the first blob, which the blob then uses, and ends it when idle', async () => {
    const pool = new HashPool({ size: 2, idleMs: 50 })
    try {
      expect(pool.running).toBe(0)
      pool.warm()
      pool.warm()
      expect(pool.running).toBe(1)
      const hasher = pool.session()
      hasher.update(Buffer.from('abc'))
      expect(await hasher.digest()).toBe(sha256(Buffer.from('abc')).toString('hex'))
      expect(pool.running).toBe(1)
      await new Promise(resolve => setTimeout(resolve, 300))
      expect(pool.running).toBe(0)
      pool.warm() // a warmed worker nobody uses ends too
      await new Promise(resolve => setTimeout(resolve, 300))
      expect(pool.running).toBe(0)
    } finally {
      await pool.close()
    }
  })
})

describe('PiecePool', () => {
  it('hands a released piece out again, once, and never a foreign buffer', () => {
    const pool = new PiecePool(16)
    const a = pool.acquire()
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer)
    pool.release(a.subarray(0, 3)) // a shorter last piece releases its whole buffer
    pool.release(a) // twice: still handed out only once
    pool.release(Buffer.alloc(16))
    const b = pool.acquire()
    const c = pool.acquire()
    expect(b.buffer).toBe(a.buffer)
    expect(c.buffer).not.toBe(a.buffer)
    expect(b.byteLength).toBe(16)
  })

  it('keeps nothing after clear', () => {
    const pool = new PiecePool(16)
    const a = pool.acquire()
    pool.release(a)
    pool.clear()
    expect(pool.acquire().buffer).not.toBe(a.buffer)
  })
})
