import { createHash, randomBytes } from 'node:crypto'
import { MemoryStore, type JsonValue } from '@distromash/p2pcomm'
import { addFile, writeLayout, type Digest } from '@distromash/multiplatform2ipfs'
import { createHeliaLight } from 'helia'
import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { imageSwarm } from '../src/reconciler/desired.js'
import { fetchImage, type BlockSource } from '../src/reconciler/fetch.js'
import { Records } from '../src/records/index.js'
import { keyOf } from '../src/records/keys.js'

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
const digest = (b: Uint8Array): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest

/** One platform, one 45 MiB random layer: 180 leaves, more than a dag-pb node's 174 links, so two inner levels */
async function bigImage (blockstore: Blockstore): Promise<{ root: CID, layerBytes: number }> {
  const blobs = new Map<Digest, Awaited<ReturnType<typeof addFile>>>()
  const put = async (bytes: Uint8Array): Promise<{ digest: Digest, size: number }> => {
    blobs.set(digest(bytes), await addFile(bytes, blockstore))
    return { digest: digest(bytes), size: bytes.length }
  }
  const layer = await put(randomBytes(45 * 1024 * 1024))
  const config = await put(json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }))
  const manifest = await put(json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }] }))
  const root = await writeLayout({ top: { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }, tag: '1', blobs }, blockstore)
  return { root: root.cid, layerBytes: layer.size }
}

describe('fetchImage with a block source', () => {
  it('asks the source for every block (metadata and inner nodes from holders first) and nothing over bitswap', async () => {
    const remote = createHeliaLight().blockstore
    const { root, layerBytes } = await bigImage(remote)
    const local = createHeliaLight().blockstore
    const overBitswap: string[] = []
    // stands in for Helia's networked blockstore: a local miss is fetched "over bitswap" and counted
    const blockstore = new Proxy(local, {
      get (target, prop) {
        if (prop !== 'get') return (Reflect.get(target, prop) as (...a: unknown[]) => unknown).bind(target)
        return async function * (cid: CID, options?: { signal?: AbortSignal }) {
          if (!await local.has(cid)) { overBitswap.push(cid.toString()); await local.put(cid, remote.get(cid, options)) }
          yield * local.get(cid, options)
        }
      }
    }) as unknown as Blockstore
    const calls: Array<{ cids: CID[], holdersOnly: boolean }> = []
    const events: string[] = []
    const source: BlockSource = async (cids, options) => {
      calls.push({ cids, holdersOnly: options.holdersOnly === true })
      options.onStarted?.()
      for (const cid of cids) {
        const parts: Uint8Array[] = []
        for await (const part of remote.get(cid)) parts.push(part)
        const bytes = Buffer.concat(parts)
        await local.put(cid, bytes)
        options.onBlock?.(cid, bytes.byteLength)
        events.push('block')
      }
      return []
    }
    const progress: number[] = []
    const fetched = await fetchImage(root, blockstore, { platform: 'linux/amd64', source, onProgress: done => { progress.push(done) }, onReadable: () => { events.push('readable') } })
    // readable once, when the bulk fetch starts: the engine's pull may run alongside it
    expect(events.filter(e => e === 'readable')).toHaveLength(1)
    expect(events.indexOf('readable')).toBeLessThan(events.length - 182)

    const inner = calls.filter(c => c.holdersOnly)
    // the layer's two inner nodes below its root, asked for together
    expect(inner.some(c => c.cids.length === 2 && c.cids.every(cid => cid.code === 0x70))).toBe(true)
    const bulk = calls.filter(c => !c.holdersOnly)
    expect(bulk).toHaveLength(1)
    // 180 leaves of the layer + config + manifest, each once
    expect(bulk[0]?.cids).toHaveLength(182)
    expect(new Set(bulk[0]?.cids.map(c => c.toString())).size).toBe(182)
    expect(bulk[0]?.cids.every(c => c.code === 0x55)).toBe(true)
    // nothing at all went over bitswap: metadata too came from the source's holders
    expect(overBitswap).toEqual([])
    expect(fetched.bytes).toBeGreaterThan(layerBytes)
    expect(progress.at(-1)).toBe(fetched.bytes)
  }, 60_000)

  it('still completes over bitswap what the source could not give', async () => {
    const remote = createHeliaLight().blockstore
    const { root } = await bigImage(remote)
    const local = createHeliaLight().blockstore
    let missedBlocks = 0
    const blockstore = new Proxy(local, {
      get (target, prop) {
        if (prop !== 'get') return (Reflect.get(target, prop) as (...a: unknown[]) => unknown).bind(target)
        return async function * (cid: CID, options?: { signal?: AbortSignal }) {
          if (!await local.has(cid)) { missedBlocks++; await local.put(cid, remote.get(cid, options)) }
          yield * local.get(cid, options)
        }
      }
    }) as unknown as Blockstore
    const giveUp: BlockSource = async cids => cids
    const fetched = await fetchImage(root, blockstore, { platform: 'linux/amd64', source: giveUp })
    expect(missedBlocks).toBeGreaterThan(182)
    for (const pin of fetched.pins) expect(await local.has(pin.cid)).toBe(true)
  }, 60_000)
})

describe('imageSwarm', () => {
  it('holders are the importer and peers that finished this CID; pullers the other assigned peers, sorted', async () => {
    // the twin's policy is open: it may hold the status of other peers, as arriving from them
    const store = await MemoryStore.create()
    const records = new Records(store, 'p1')
    const s = { type: 'percentage' as const, nametag: 'app:1', percentage: 100, execute: true, createdAt: '', updatedAt: '', createdBy: 'x' }
    await records.putStrategy({ ...s, key: 'a' })
    await records.putAssignment('a', { peers: ['p4', 'p1', 'p2', 'p3'], replicas: 4, at: '', by: 'x' })
    await records.putStrategy({ ...s, key: 'off', execute: false })
    await records.putAssignment('off', { peers: ['p9'], replicas: 1, at: '', by: 'x' })
    const status = (state: string, cid = 'bafyroot'): JsonValue => ({ image: 'app:1', cid, state, docker: true, updatedAt: '' })
    await store.put(keyOf({ kind: 'status', peerId: 'p2', image: 'app:1' }), status('loaded'))
    await store.put(keyOf({ kind: 'status', peerId: 'p3', image: 'app:1' }), status('loaded', 'bafyother'))
    await store.put(keyOf({ kind: 'status', peerId: 'p4', image: 'app:1' }), status('fetching'))
    expect(await imageSwarm(records, 'app:1', 'bafyroot', 'p1')).toEqual({ holders: ['p1', 'p2'], pullers: ['p3', 'p4'] })
  })
})
