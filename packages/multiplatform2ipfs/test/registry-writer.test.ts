import { readdir } from 'node:fs/promises'
import { MemoryBlockstore } from 'blockstore-core/memory'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { digestToRawCid } from '../src/layout/cid.js'
import type { RegistryBlockWriter } from '../src/registry/components.js'
import { deterministicBytes } from './helpers/bytes.js'
import { pushBlob, type Blob } from './helpers/images.js'
import { startOciRegistry, type RunningOciRegistry } from './helpers/oci-registry.js'
import { sha256Digest } from '../src/digest.js'

/** An uploaded blob's blocks go through the components' bulk writer (Kubo: one dag import) when there is one */
describe('registry uploads through a bulk writer', () => {
  let running: RunningOciRegistry | undefined
  afterEach(async () => { await running?.stop(); running = undefined })

  it('puts every block of a finished upload through one writer, closed once, and none through the blockstore', async () => {
    const store = new MemoryBlockstore()
    const direct: string[] = []
    const blockstore = { get: store.get.bind(store), has: store.has.bind(store), put: async (cid: CID, bytes: Uint8Array) => { direct.push(cid.toString()); return await store.put(cid, bytes) } }
    const writers: Array<{ puts: number, closed: number, aborted: boolean }> = []
    const writer = (): RegistryBlockWriter => {
      const w = { puts: 0, closed: 0, aborted: false }
      writers.push(w)
      return {
        put: async (cid, bytes) => { w.puts++; await store.put(cid, Uint8Array.from(bytes)) },
        close: async () => { w.closed++ },
        abort: () => { w.aborted = true }
      }
    }
    running = await startOciRegistry({ blockstore, writer })
    const bytes = deterministicBytes(3 * 256 * 1024 + 5, 3)
    const blob: Blob = { digest: sha256Digest(bytes), size: bytes.length, mediaType: 'application/octet-stream', bytes }
    await pushBlob(running.url, 'dmtest/bulk', blob)
    expect(writers).toEqual([{ puts: 5, closed: 1, aborted: false }]) // 4 raw leaves and their file node
    expect(direct).toEqual([])
    const res = await fetch(`${running.url}/v2/dmtest/bulk/blobs/${blob.digest}`)
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true)
    expect(await store.has(digestToRawCid(sha256Digest(bytes.subarray(0, 256 * 1024))))).toBe(true)
  })
})

describe('a finished upload the node cannot store', () => {
  let running: RunningOciRegistry | undefined
  afterEach(async () => { await running?.stop(); running = undefined })

  it('answers 507 with the reason and leaves no upload file or session behind', async () => {
    const store = new MemoryBlockstore()
    const diskFull = Object.assign(new Error('disk full: 33554432 of 33554432 bytes used (--max-disk)'), { name: 'DiskFullError' })
    const blockstore = { get: store.get.bind(store), has: store.has.bind(store), put: async (): Promise<CID> => { throw diskFull } }
    running = await startOciRegistry({ blockstore })
    const bytes = deterministicBytes(2 * 256 * 1024, 9)
    const digest = sha256Digest(bytes)
    const started = await fetch(`${running.url}/v2/dmtest/full/blobs/uploads/`, { method: 'POST' })
    const location = new URL(started.headers.get('location') ?? '', running.url)
    await fetch(location, { method: 'PATCH', body: bytes, headers: { 'content-type': 'application/octet-stream' } })
    expect((await readdir(running.uploadsDir)).length).toBe(1)

    location.searchParams.set('digest', digest)
    const put = await fetch(location, { method: 'PUT' })
    expect(put.status).toBe(507)
    expect(JSON.stringify(await put.json())).toContain('disk full')
    expect(await readdir(running.uploadsDir)).toEqual([])
    // the session is gone: a client starts the upload over
    expect((await fetch(location, { method: 'GET' })).status).toBe(404)
  })

  it('refuses a blob that will not fit whole before any of its blocks is written (the admit component)', async () => {
    const store = new MemoryBlockstore()
    const puts: string[] = []
    const blockstore = { get: store.get.bind(store), has: store.has.bind(store), put: async (cid: CID, bytes: Uint8Array) => { puts.push(cid.toString()); return await store.put(cid, bytes) } }
    const asked: number[] = []
    const admit = (bytes: number): void => {
      asked.push(bytes)
      if (bytes > 1024 * 1024) throw Object.assign(new Error(`disk full: ${bytes} more bytes do not fit under --max-disk`), { name: 'DiskFullError' })
    }
    running = await startOciRegistry({ blockstore, admit })
    const big = deterministicBytes(1024 * 1024 + 1, 4)
    const refused = await fetch(`${running.url}/v2/dmtest/full/blobs/uploads/?digest=${sha256Digest(big)}`, { method: 'POST', body: big, headers: { 'content-type': 'application/octet-stream' } })
    expect(refused.status).toBe(507)
    const body = await refused.json() as { errors: Array<{ code: string, message: string }> }
    expect(body.errors[0]).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/^disk full: 1048577 more bytes/) })
    expect(puts).toEqual([])
    expect(await readdir(running.uploadsDir)).toEqual([])

    // one that fits is asked with its size and stored
    const small = deterministicBytes(300 * 1024, 5)
    const blob: Blob = { digest: sha256Digest(small), size: small.length, mediaType: 'application/octet-stream', bytes: small }
    await pushBlob(running.url, 'dmtest/full', blob)
    expect(asked).toEqual([big.length, small.length])
    expect(puts.length).toBe(3) // two raw leaves and their file node
  })
})
