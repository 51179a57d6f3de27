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
