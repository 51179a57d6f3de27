import { join } from 'node:path'
import { LevelDatastore } from 'datastore-level'
import { createHeliaLight } from 'helia'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { PackBlockstore } from '../src/blockstore/pack-blockstore.js'
import { collectedContent } from '../src/disk/collected-content.js'
import { collector } from '../src/disk/collector.js'
import { MemoryCollectable } from '../src/disk/memory.js'
import { memoryContent } from '../src/content/memory.js'
import { batchedPins, pinnedBlocks } from '../src/pins.js'
import { block, dir, read } from './blockstore-conformance.js'
import { collectableConformance } from './collectable-conformance.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => { for (const close of closers.splice(0)) await close() })

collectableConformance('MemoryCollectable', async () => {
  const store = new MemoryCollectable()
  return { store, put: async (cid, bytes) => { await store.put(cid, bytes) }, read: async cid => await store.get(cid) }
})

collectableConformance('PackBlockstore', async () => {
  const store = new PackBlockstore(join(await dir(), 'blocks'), { maxPackBytes: 100_000 })
  await store.open()
  closers.push(async () => { await store.close() })
  return {
    store,
    put: async (cid, bytes) => { await store.put(cid, bytes) },
    read: async cid => await store.has(cid) ? await read(store, cid) : undefined
  }
})

/** A memory store and a collector over it whose pins are the set `pinned` */
function setup (init: { graceMs?: number } = {}): { store: MemoryCollectable, pinned: Set<string>, gc: ReturnType<typeof collector> } {
  const store = new MemoryCollectable()
  const pinned = new Set<string>()
  const gc = collector({ blockstore: store, pinned: async cids => cids.map(c => pinned.has(c.toString())) }, { graceMs: init.graceMs ?? 0 })
  return { store, pinned, gc }
}

const tick = async (ms = 5): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('collector', () => {
  it('removes blocks no pin holds, keeps pinned ones, then compacts', async () => {
    const { store, pinned, gc } = setup()
    const [kept, garbage] = await Promise.all([block(1000), block(3000)])
    await store.put(kept!.cid, kept!.bytes)
    await store.put(garbage!.cid, garbage!.bytes)
    pinned.add(kept!.cid.toString())
    await tick()
    const report = await gc.collect()
    expect(report).toMatchObject({ removedBlocks: 1, removedBytes: 3000, compaction: { packs: 1, reclaimedBytes: 3000 } })
    expect(await store.has(kept!.cid)).toBe(true)
    expect(await store.has(garbage!.cid)).toBe(false)
    expect(store.usage().fileBytes).toBe(1000)
    expect(gc.stats()).toMatchObject({ collections: 1, removedBlocks: 1, removedBytes: 3000, reclaimedBytes: 3000, running: false })
  })

  it('keeps blocks written within the grace window', async () => {
    const { store, gc } = setup({ graceMs: 60_000 })
    const b = await block()
    await store.put(b.cid, b.bytes)
    const report = await gc.collect()
    expect(report).toMatchObject({ removedBlocks: 0, youngGarbageBytes: 1000 }) // garbage soon
    expect(gc.stats().youngGarbageBytes).toBe(1000)
    expect(await store.has(b.cid)).toBe(true)
  })

  it('keeps blocks written since a hold began until it is released', async () => {
    const { store, gc } = setup()
    const [before, during] = await Promise.all([block(), block()])
    await store.put(before!.cid, before!.bytes)
    await tick()
    const release = gc.hold()
    await store.put(during!.cid, during!.bytes)
    await tick()
    expect((await gc.collect()).removedBlocks).toBe(1)
    expect(await store.has(during!.cid)).toBe(true)
    release()
    expect((await gc.collect()).removedBlocks).toBe(1)
    expect(await store.has(during!.cid)).toBe(false)
  })

  it('a writer that finds a block already here protects it (touch), and its hold ends at close', async () => {
    const { store, gc } = setup()
    const b = await block()
    await store.put(b.cid, b.bytes)
    const inner = memoryContent()
    await inner.put(b.cid, b.bytes)
    const content = collectedContent(inner, gc, cid => { store.touch(cid) })
    await tick()
    const writer = content.writer()
    expect(await writer.has(b.cid)).toBe(true)
    expect((await gc.collect()).removedBlocks).toBe(0)
    await writer.close()
    await tick()
    expect((await gc.collect()).removedBlocks).toBe(1)
  })

  it('a writer whose put fails lets its blocks go (its user may never close it)', async () => {
    const { store, gc } = setup()
    const b = await block()
    const inner = memoryContent()
    const failing = { ...inner, backend: inner.backend, writer: () => ({ ...inner.writer(), put: async () => { throw new Error('disk full') } }) } as unknown as typeof inner
    const content = collectedContent(failing, gc, () => {})
    const writer = content.writer()
    await store.put(b.cid, b.bytes)
    await tick()
    expect((await gc.collect()).removedBlocks).toBe(0)
    await expect(writer.put(b.cid, b.bytes)).rejects.toThrow('disk full')
    expect((await gc.collect()).removedBlocks).toBe(1)
  })

  it('a pin being recorded and a sweep exclude each other: the block the pin reaches is kept', async () => {
    const { store, pinned, gc } = setup()
    const b = await block()
    await store.put(b.cid, b.bytes)
    await tick()
    let finish!: () => void
    const recorded = new Promise<void>(resolve => { finish = resolve })
    const pin = gc.pinning(async () => { await recorded; pinned.add(b.cid.toString()) })
    const pass = gc.collect()
    await tick(20)
    expect(gc.stats().running).toBe(true) // waiting for the pin
    finish()
    await pin
    expect((await pass).removedBlocks).toBe(0)
    expect(await store.has(b.cid)).toBe(true)
  })

  it('a second collect while one runs joins it', async () => {
    const { gc } = setup()
    const [a, b] = [gc.collect(), gc.collect()]
    expect(await a).toBe(await b)
  })

  it('on the pack blockstore with Helia pins in LevelDB: pinned DAG kept across a restart, the rest removed and compacted away', async () => {
    const path = await dir()
    const blocks = new PackBlockstore(join(path, 'blocks'), { maxPackBytes: 200_000 })
    const datastore = new LevelDatastore(join(path, 'datastore'))
    await blocks.open()
    await datastore.open()
    const helia = createHeliaLight({ blockstore: blocks, datastore })
    const pins = batchedPins({ pins: helia.pins, datastore, blockstore: blocks, getCodec: helia.getCodec })
    const leaves = await Promise.all(Array.from({ length: 6 }, async () => await block(50_000)))
    const garbage = await Promise.all(Array.from({ length: 6 }, async () => await block(50_000)))
    // interleaved, so every pack holds both
    for (let i = 0; i < 6; i++) {
      await blocks.put(leaves[i]!.cid, leaves[i]!.bytes)
      await blocks.put(garbage[i]!.cid, garbage[i]!.bytes)
    }
    const node = dagPb.encode(dagPb.prepare({ Links: leaves.map(l => ({ Hash: l.cid, Tsize: 50_000 })) }))
    const root = CID.createV1(dagPb.code, await sha256.digest(node))
    await blocks.put(root, node)
    for await (const _ of pins.add(root)) { /* drained */ }
    await tick()
    const gc = collector({ blockstore: blocks, pinned: pinnedBlocks(datastore) }, { graceMs: 0 })
    const report = await gc.collect()
    expect(report.removedBlocks).toBe(6)
    expect(report.compaction.reclaimedBytes).toBeGreaterThanOrEqual(6 * 50_000)
    expect(blocks.usage().fileBytes).toBeLessThan(7 * 50_000 + 1000)
    await blocks.close()
    const again = new PackBlockstore(join(path, 'blocks'))
    await again.open()
    for (const b of [...leaves, { cid: root, bytes: node }]) {
      const bytes = await read(again, b.cid)
      expect(CID.createV1(b.cid.code, await sha256.digest(bytes)).equals(b.cid)).toBe(true)
    }
    for (const g of garbage) expect(await again.has(g.cid)).toBe(false)
    await again.close()
    await datastore.close()
    void raw
  })
})
