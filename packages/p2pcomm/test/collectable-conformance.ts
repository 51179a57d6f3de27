/*
 * One conformance suite for what a garbage collector needs of a blockstore (disk/collectable.ts),
 * run on the in-memory twin and on the pack blockstore.
 */
import type { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import type { CollectableBlockstore } from '../src/disk/collectable.js'
import { block } from './blockstore-conformance.js'

export interface CollectableUnderTest {
  store: CollectableBlockstore
  put: (cid: CID, bytes: Uint8Array) => Promise<void>
  /** The block's bytes, undefined when not held */
  read: (cid: CID) => Promise<Uint8Array | undefined>
}

export function collectableConformance (name: string, open: () => Promise<CollectableUnderTest>): void {
  describe(`${name} collectable conformance`, () => {
    it('lists every block with its size and when it was written', async () => {
      const { store, put } = await open()
      const before = Date.now()
      const blocks = await Promise.all([block(10), block(2000)])
      for (const b of blocks) await put(b.cid, b.bytes)
      const listed = [...store.blocks()]
      const mh = (cid: CID): string => Buffer.from(cid.multihash.bytes).toString('hex')
      expect(listed.map(b => mh(b.cid)).sort()).toEqual(blocks.map(b => mh(b.cid)).sort())
      for (const b of listed) {
        expect(b.length).toBe(blocks.find(x => mh(x.cid) === mh(b.cid))?.bytes.byteLength)
        expect(b.writtenAt).toBeGreaterThanOrEqual(before)
        expect(b.writtenAt).toBeLessThanOrEqual(Date.now())
      }
      expect(store.usage()).toMatchObject({ blocks: 2, liveBytes: 2010 })
    })

    it('removes blocks, but none written at or after writtenBefore, and says what it removed', async () => {
      const { store, put, read } = await open()
      const [old, young, absent] = await Promise.all([block(100), block(300), block(50)])
      await put(old!.cid, old!.bytes)
      await new Promise(resolve => setTimeout(resolve, 5))
      const cutoff = Date.now()
      await put(young!.cid, young!.bytes)
      expect(await store.remove([old!.cid, young!.cid, absent!.cid], { writtenBefore: cutoff })).toEqual({ blocks: 1, bytes: 100 })
      expect(await read(old!.cid)).toBeUndefined()
      expect(Buffer.from(await read(young!.cid) ?? []).equals(young!.bytes)).toBe(true)
      expect(await store.remove([young!.cid])).toEqual({ blocks: 1, bytes: 300 })
      expect(store.usage().blocks).toBe(0)
    })

    it('touch makes a block count as written now', async () => {
      const { store, put } = await open()
      const b = await block(10)
      await put(b.cid, b.bytes)
      await new Promise(resolve => setTimeout(resolve, 5))
      const cutoff = Date.now()
      store.touch(b.cid)
      expect((await store.remove([b.cid], { writtenBefore: cutoff })).blocks).toBe(0)
      expect([...store.blocks()][0]?.writtenAt).toBeGreaterThanOrEqual(cutoff)
    })

    it('compaction gives back the bytes of removed blocks and keeps every other block whole', async () => {
      const { store, put, read } = await open()
      const blocks = await Promise.all(Array.from({ length: 12 }, async () => await block(20_000)))
      for (const b of blocks) await put(b.cid, b.bytes)
      expect((await store.compact()).packs).toBe(0) // nothing removed, nothing to do
      await store.remove(blocks.slice(0, 8).map(b => b.cid))
      const before = store.usage()
      expect(before.fileBytes).toBeGreaterThanOrEqual(12 * 20_000)
      const report = await store.compact()
      expect(report.packs).toBeGreaterThan(0)
      expect(report.reclaimedBytes).toBeGreaterThanOrEqual(8 * 20_000)
      const after = store.usage()
      expect(after).toMatchObject({ blocks: 4, liveBytes: 4 * 20_000 })
      expect(after.fileBytes).toBeLessThan(before.fileBytes - 7 * 20_000)
      for (const b of blocks.slice(8)) expect(Buffer.from(await read(b.cid) ?? []).equals(b.bytes)).toBe(true)
      for (const b of blocks.slice(0, 8)) expect(await read(b.cid)).toBeUndefined()
    })
  })
}
