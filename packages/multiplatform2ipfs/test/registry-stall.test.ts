import { MemoryBlockstore } from 'blockstore-core/memory'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryCatalog } from '../src/catalog-memory.js'
import { sha256Digest } from '../src/digest.js'
import { memoryDigestIndex } from '../src/layout/digest-index.js'
import { addFile } from '../src/layout/unixfs.js'
import { writeLayout } from '../src/layout/oci-layout.js'
import { deterministicBytes } from './helpers/bytes.js'
import { ociCode, startOciRegistry, type RunningOciRegistry } from './helpers/oci-registry.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

/**
 * A blockstore like Helia's networked one when no peer has a block: get() waits until its signal
 * aborts. `delivered` blocks (by CID string) come from the backing store; everything else stalls.
 */
class StallingBlockstore {
  readonly aborted: string[] = []
  /** Like a store that ignores its signal entirely: gets never settle. */
  deaf = false
  constructor (readonly backing: MemoryBlockstore, readonly delivered: Set<string>) {}
  has = async (cid: CID): Promise<boolean> => this.backing.has(cid)
  put = async (cid: CID, bytes: Uint8Array): Promise<CID> => this.backing.put(cid, bytes)
  async * get (cid: CID, options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    if (this.delivered.has(cid.toString())) {
      yield * this.backing.get(cid)
      return
    }
    if (this.deaf) await new Promise(() => {})
    await new Promise((_resolve, reject) => {
      options.signal?.addEventListener('abort', () => { this.aborted.push(cid.toString()); reject(options.signal?.reason) }, { once: true })
    })
  }
}

const STALL_MS = 400
const backing = new MemoryBlockstore()
const blob = deterministicBytes(3 * 262_144 + 5, 7)
const digest = sha256Digest(blob)
let stalling: StallingBlockstore
let ours: RunningOciRegistry
let root: CID
let fileCid: CID

beforeAll(async () => {
  const file = await addFile(blob, backing)
  fileCid = file.cid
  const digestIndex = memoryDigestIndex()
  await digestIndex.put(digest, file)
  const manifest = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'x', digest, size: blob.length }, layers: [] }))
  const top = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256Digest(manifest), size: manifest.length }
  root = (await writeLayout({ top, tag: 't', blobs: new Map([[top.digest, await addFile(manifest, backing)], [digest, file]]) }, backing)).cid
  // only the file's root node is local: its leaves are "somewhere in the mesh" and never arrive
  stalling = new StallingBlockstore(backing, new Set([fileCid.toString()]))
  ours = await startOciRegistry({ blockstore: stalling as unknown as Blockstore, digestIndex, catalog: memoryCatalog() }, { stallTimeoutMs: STALL_MS })
})

afterAll(async () => {
  await ours?.stop()
})

async function timed<T> (fn: () => Promise<T>): Promise<{ value: T, ms: number }> {
  const start = Date.now()
  const value = await fn()
  return { value, ms: Date.now() - start }
}

describe('blocks that never arrive', () => {
  it('HEAD/GET by a CID whose layout blocks are missing → 503 UNAVAILABLE within the timeout', async () => {
    for (const method of ['HEAD', 'GET']) {
      // a digest the index does not know, so only the (unreachable) layout could have it
      const { value: res, ms } = await timed(async () => fetch(`${ours.url}/v2/${root.toString()}/blobs/sha256:${'1'.repeat(64)}`, { method }))
      expect(res.status).toBe(503)
      if (method === 'GET') expect(await ociCode(res)).toBe('UNAVAILABLE')
      expect(ms).toBeLessThan(STALL_MS * 4)
    }
    const manifest = await fetch(`${ours.url}/v2/${root.toString()}/manifests/t`)
    expect(manifest.status).toBe(503)
  })

  it('GET of an indexed blob whose leaves never arrive → 503 before any body', async () => {
    const { value: res, ms } = await timed(async () => fetch(`${ours.url}/v2/anything/blobs/${digest}`))
    expect(res.status).toBe(503)
    expect(await ociCode(res)).toBe('UNAVAILABLE')
    expect(ms).toBeLessThan(STALL_MS * 4)
  })

  it('a stall in the middle of a stream ends the connection instead of hanging', async () => {
    const firstLeaf = (await firstLink(fileCid)).toString()
    stalling.delivered.add(firstLeaf)
    try {
      const { ms, value } = await timed(async () => {
        const res = await fetch(`${ours.url}/v2/anything/blobs/${digest}`)
        expect(res.status).toBe(200)
        return res.arrayBuffer().then(() => 'complete', () => 'cut')
      })
      expect(value).toBe('cut')
      expect(ms).toBeLessThan(STALL_MS * 4)
    } finally {
      stalling.delivered.delete(firstLeaf)
    }
  })

  it('a blockstore that ignores its signal still cannot hang a request', async () => {
    stalling.deaf = true
    try {
      const { value: res, ms } = await timed(async () => fetch(`${ours.url}/v2/anything/blobs/${digest}`))
      expect(res.status).toBe(503)
      expect(ms).toBeLessThan(STALL_MS * 4)
    } finally {
      stalling.deaf = false
    }
  })

  it('a client that goes away aborts the pending block gets', async () => {
    stalling.aborted.length = 0
    const controller = new AbortController()
    const pending = fetch(`${ours.url}/v2/anything/blobs/${digest}`, { signal: controller.signal }).catch(() => 'aborted')
    await new Promise(resolve => setTimeout(resolve, 50))
    controller.abort()
    expect(await pending).toBe('aborted')
    await new Promise(resolve => setTimeout(resolve, 50))
    // aborted well before the stall timeout: by the disconnect, not the timer
    expect(stalling.aborted.length).toBeGreaterThan(0)
  })
})

async function firstLink (cid: CID): Promise<CID> {
  const { decode } = await import('@ipld/dag-pb')
  const node = decode(await (async () => { const parts: Uint8Array[] = []; for await (const p of backing.get(cid)) parts.push(p); return Buffer.concat(parts) })())
  const link = node.Links[0]
  if (link === undefined) throw new Error('no links')
  return link.Hash
}
