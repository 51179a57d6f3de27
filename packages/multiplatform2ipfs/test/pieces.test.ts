import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { CHUNK_SIZE } from '../src/constants.js'
import { DigestMismatchError } from '../src/errors.js'
import { addFile } from '../src/layout/unixfs.js'
import { PieceFiller, fixedSizePieces } from '../src/pieces.js'
import { createRegistryClient } from '../src/upstream/client.js'
import { MemoryBlockstore } from 'blockstore-core'

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const piece of source) out.push(piece)
  return out
}

/** `bytes` in chunks of the given sizes (cycled), each a view of `bytes` */
async function * chunked (bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0
  for (let i = 0; at < bytes.byteLength; i++) {
    const size = sizes[i % sizes.length] ?? 1
    yield bytes.subarray(at, at + size)
    at += size
  }
}

describe('fixedSizePieces', () => {
  it('regroups any chunking into pieces of exactly the size, the last one shorter', async () => {
    const bytes = randomBytes(10_000)
    for (const sizes of [[1], [7, 3000, 1], [4096], [10_000], [9_999, 1]]) {
      const pieces = await collect(fixedSizePieces(chunked(bytes, sizes), 4096))
      expect(pieces.map(p => p.byteLength)).toEqual([4096, 4096, 1808])
      expect(Buffer.concat(pieces).equals(bytes)).toBe(true)
    }
  })

  it('gives no piece for an empty stream and one whole piece for an exact fit', async () => {
    expect(await collect(fixedSizePieces(chunked(new Uint8Array(0), [1]), 16))).toEqual([])
    expect((await collect(fixedSizePieces(chunked(randomBytes(32), [32]), 16))).map(p => p.byteLength)).toEqual([16, 16])
  })

  it('passes a piece lying whole inside a chunk on as a view of it, without a copy', async () => {
    const bytes = randomBytes(3 * 4096)
    const pieces = await collect(fixedSizePieces(chunked(bytes, [bytes.byteLength]), 4096))
    expect(pieces).toHaveLength(3)
    for (const piece of pieces) expect(piece.buffer).toBe(bytes.buffer)
  })

  it('fails when the stream fails', async () => {
    async function * failing (): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(10)
      throw new Error('connection reset')
    }
    await expect(collect(fixedSizePieces(failing(), 16))).rejects.toThrow('connection reset')
  })

  it('keeps the importer\'s CIDs: pieces import exactly as the bytes do', async () => {
    const bytes = randomBytes(3 * CHUNK_SIZE + 12_345)
    const whole = await addFile(bytes, new MemoryBlockstore())
    const pieced = await addFile(fixedSizePieces(chunked(bytes, [65_536, 1000]), CHUNK_SIZE), new MemoryBlockstore())
    expect(pieced.cid.toString()).toBe(whole.cid.toString())
    expect(pieced.dagSize).toBe(whole.dagSize)
  })
})

describe('PieceFiller', () => {
  it('lets reads land in place: space is the rest of the piece, filledIn completes it', () => {
    const filler = new PieceFiller(8)
    const full: Uint8Array[] = []
    filler.add(Uint8Array.of(1, 2, 3), full)
    const space = filler.space(100)
    expect(space.byteLength).toBe(5)
    space.set([4, 5], 0)
    filler.filledIn(2, full)
    expect(full).toEqual([])
    const last = filler.space(3) // capped at what the caller still expects
    expect(last.byteLength).toBe(3)
    last.set([6, 7, 8])
    filler.filledIn(3, full)
    expect(full.map(p => [...p])).toEqual([[1, 2, 3, 4, 5, 6, 7, 8]])
    filler.space(8)[0] = 9
    filler.filledIn(1, full)
    expect([...filler.rest() ?? []]).toEqual([9])
    expect(() => { filler.filledIn(1, full) }).toThrow(RangeError)
  })
})

describe('RegistryClient.getBlob with a chunk size', () => {
  let server: Server | undefined
  afterEach(async () => { await new Promise(resolve => server?.close(resolve)) })

  async function serve (body: Buffer): Promise<string> {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(body.byteLength) })
      // odd-sized writes, so pieces straddle network chunks
      for (let at = 0; at < body.byteLength; at += 40_000) res.write(body.subarray(at, at + 40_000))
      res.end()
    })
    await new Promise<void>(resolve => server?.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  it('yields block-sized pieces of the verified bytes', async () => {
    const body = randomBytes(2 * CHUNK_SIZE + 100)
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}` as const
    const client = createRegistryClient({ upstream: await serve(body) })
    const pieces = await collect(client.getBlob({ registry: 'docker.io', repository: 'x/y' }, { digest, size: body.byteLength }, { chunkSize: CHUNK_SIZE }))
    expect(pieces.map(p => p.byteLength)).toEqual([CHUNK_SIZE, CHUNK_SIZE, 100])
    expect(Buffer.concat(pieces).equals(body)).toBe(true)
  })

  it('still fails at the end on bytes that do not match the digest', async () => {
    const body = randomBytes(CHUNK_SIZE + 1)
    const client = createRegistryClient({ upstream: await serve(body) })
    const wrong = `sha256:${'0'.repeat(64)}` as const
    await expect(collect(client.getBlob({ registry: 'docker.io', repository: 'x/y' }, { digest: wrong, size: body.byteLength }, { chunkSize: CHUNK_SIZE })))
      .rejects.toBeInstanceOf(DigestMismatchError)
  })
})
