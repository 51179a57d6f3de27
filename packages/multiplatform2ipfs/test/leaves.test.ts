import { randomBytes } from 'node:crypto'
import { MemoryBlockstore } from 'blockstore-core'
import { afterEach, describe, expect, it } from 'vitest'
import type { CID } from 'multiformats/cid'
import { CHUNK_SIZE } from '../src/constants.js'
import { HashPool } from '../src/hash-pool.js'
import { addFile } from '../src/layout/unixfs.js'
import { PiecePool, fixedSizePieces } from '../src/pieces.js'

async function * chunked (bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += size) yield bytes.subarray(at, at + size)
}

/** A blockstore that copies what it is given, as one writing to disk does (a reused buffer stays safe) */
class CopyingBlockstore extends MemoryBlockstore {
  puts = 0
  override async put (cid: CID, bytes: Uint8Array): Promise<CID> {
    this.puts++
    return await super.put(cid, Uint8Array.from(bytes))
  }
}

async function blockBytes (store: MemoryBlockstore, cid: CID): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const part of store.get(cid)) parts.push(part)
  return Buffer.concat(parts)
}

describe('addFile leaves (sliding window, digests from a hashing worker, reused pieces)', () => {
  let hashes: HashPool | undefined
  afterEach(async () => { await hashes?.close() })

  it('stores the same blocks and CID as the importer on its own', async () => {
    const bytes = randomBytes(40 * CHUNK_SIZE + 777) // more leaves than the window
    const expected = await addFile(bytes, new MemoryBlockstore())
    hashes = new HashPool({ size: 2 })
    const hasher = hashes.session()
    const pieces = new PiecePool(CHUNK_SIZE, 8)
    const released: Uint8Array[] = []
    // as the importer does: every piece hashed by a worker on its way, its buffer reused once stored
    async function * hashed (): AsyncGenerator<Uint8Array> {
      for await (const piece of fixedSizePieces(chunked(bytes, 65_536), CHUNK_SIZE, () => pieces.acquire())) {
        hasher.update(piece)
        yield piece
      }
    }
    const store = new CopyingBlockstore()
    const file = await addFile(hashed(), store, { leafDigest: p => hasher.pieceDigest(p), onLeafStored: p => { released.push(p); pieces.release(p) } })
    expect(file.cid.toString()).toBe(expected.cid.toString())
    expect(file.dagSize).toBe(expected.dagSize)
    expect(released).toHaveLength(41)
    // every leaf holds its own bytes, though the buffers were reused
    const again = new MemoryBlockstore()
    await addFile(bytes, again)
    for await (const { cid } of again.getAll()) expect((await blockBytes(store, cid)).equals(await blockBytes(again, cid))).toBe(true)
  })

  it('keeps the single-chunk vector: a blob of one chunk is one raw block named by its sha256', async () => {
    hashes = new HashPool({ size: 1 })
    const hasher = hashes.session()
    const bytes = Buffer.from('DistroMash single-chunk vector\n')
    hasher.update(bytes)
    const file = await addFile(chunked(bytes, 7), new MemoryBlockstore(), { leafDigest: p => hasher.pieceDigest(p) })
    const plain = await addFile(bytes, new MemoryBlockstore())
    expect(file.cid.toString()).toBe(plain.cid.toString())
    expect(file.cid.code).toBe(0x55)
  })

  it('reads ahead while blocks are being stored, and stores nothing once it has failed', async () => {
    const bytes = randomBytes(12 * CHUNK_SIZE)
    let read = 0
    let maxAhead = 0
    async function * source (): AsyncGenerator<Uint8Array> {
      for await (const piece of chunked(bytes, CHUNK_SIZE)) {
        read++
        yield piece
      }
    }
    const store = new CopyingBlockstore()
    let release: () => void = () => {}
    const gate = new Promise<void>(resolve => { release = resolve })
    const slow = {
      put: async (cid: CID, block: Uint8Array): Promise<CID> => {
        maxAhead = Math.max(maxAhead, read - store.puts)
        await gate
        if (store.puts === 5) throw new Error('disk full')
        return await store.put(cid, block)
      }
    }
    const adding = addFile(source(), slow)
    setTimeout(release, 50)
    await expect(adding).rejects.toThrow('disk full')
    const putsAtFailure = store.puts
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(store.puts).toBe(putsAtFailure)
    expect(maxAhead).toBeGreaterThan(1) // reading went on while the first puts waited
  })
})
