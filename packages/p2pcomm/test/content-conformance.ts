import { randomBytes } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Content } from '../src/content/content.js'

export interface Block { cid: CID, bytes: Uint8Array }

export interface ContentHarness {
  content: Content
  /** Stores blocks on another node of the network only: this content has to fetch them */
  elsewhere?: (blocks: Block[]) => Promise<void>
  close: () => Promise<void>
}

export async function rawBlock (size = 1000): Promise<Block> {
  const bytes = randomBytes(size)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

export async function pbNode (children: Block[]): Promise<Block> {
  const bytes = dagPb.encode(dagPb.prepare({ Data: new Uint8Array([8, 1]), Links: children.map(c => ({ Hash: c.cid, Tsize: c.bytes.byteLength })) }))
  return { cid: CID.createV1(dagPb.code, await sha256.digest(bytes)), bytes }
}

/** A root over `n` raw leaves: every block of the DAG, root first */
export async function smallDag (n = 3, size = 2000): Promise<Block[]> {
  const leaves = await Promise.all(Array.from({ length: n }, async () => await rawBlock(size)))
  return [await pbNode(leaves), ...leaves]
}

async function pinnedSet (content: Content): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for await (const pin of content.pinned()) out.set(pin.cid.toV1().toString(), pin.depth)
  return out
}

/**
 * One suite for every Content: the in-memory twin, the embedded Helia, and a real Kubo daemon
 * run it alike. Blocks are verified in both directions; pins report progress and stop on abort.
 */
export function contentConformance (name: string, make: () => Promise<ContentHarness>): void {
  describe(`${name} content conformance`, () => {
    let harness: ContentHarness
    let content: Content
    beforeAll(async () => {
      harness = await make()
      content = harness.content
    }, 120_000)
    afterAll(async () => { await harness?.close() }, 60_000)

    it('puts, gets and has blocks (raw and dag-pb)', async () => {
      const leaf = await rawBlock(300_000)
      const node = await pbNode([leaf])
      expect(await content.has(leaf.cid)).toBe(false)
      await content.put(leaf.cid, leaf.bytes)
      await content.put(node.cid, node.bytes)
      expect(await content.has(leaf.cid)).toBe(true)
      expect(await content.has(node.cid)).toBe(true)
      expect(Buffer.from(await content.get(leaf.cid)).equals(leaf.bytes)).toBe(true)
      expect(Buffer.from(await content.get(node.cid)).equals(node.bytes)).toBe(true)
      // the same block again is fine
      await content.put(leaf.cid, leaf.bytes)
    })

    it('a get of a block nobody has waits, and stops when its signal aborts', async () => {
      const missing = await rawBlock(100)
      const started = Date.now()
      await expect(content.get(missing.cid, { signal: AbortSignal.timeout(500) })).rejects.toThrow()
      expect(Date.now() - started).toBeLessThan(10_000)
      expect(await content.has(missing.cid)).toBe(false)
    })

    it('refuses bytes that are not the block their CID names', async () => {
      const a = await rawBlock(100)
      const b = await rawBlock(100)
      await expect(content.put(a.cid, b.bytes)).rejects.toMatchObject({ name: 'InvalidBlockError' })
      expect(await content.has(a.cid)).toBe(false)
      const writer = content.writer()
      await expect(writer.put(a.cid, b.bytes)).rejects.toMatchObject({ name: 'InvalidBlockError' })
      writer.abort()
      expect(await content.has(a.cid)).toBe(false)
    })

    it('writes many blocks through one writer, all stored once it closes', async () => {
      const blocks = await smallDag(40, 20_000)
      const writer = content.writer()
      await Promise.all(blocks.map(async b => { await writer.put(b.cid, b.bytes) }))
      expect(await writer.has(blocks[1]!.cid)).toBe(true)
      await writer.close()
      for (const b of blocks) expect(await content.has(b.cid)).toBe(true)
      expect(Buffer.from(await content.get(blocks[5]!.cid)).equals(blocks[5]!.bytes)).toBe(true)
    })

    it('a writer may be handed a buffer it is given back at once (the bytes are copied or stored)', async () => {
      const blocks = await smallDag(5, 1000)
      const writer = content.writer()
      for (const b of blocks) {
        const scratch = Buffer.from(b.bytes)
        await writer.put(b.cid, scratch)
        scratch.fill(0)
      }
      await writer.close()
      for (const b of blocks) expect(Buffer.from(await content.get(b.cid)).equals(b.bytes)).toBe(true)
    })

    it('pins a DAG with progress, lists it, and unpins it; both are idempotent', async () => {
      const dag = await smallDag(4)
      const writer = content.writer()
      for (const b of dag) await writer.put(b.cid, b.bytes)
      await writer.close()
      const root = dag[0]!.cid
      const progress: number[] = []
      await content.pin(root, { onProgress: n => { progress.push(n) } })
      expect(progress.length).toBeGreaterThan(0)
      expect(progress.at(-1)).toBeGreaterThanOrEqual(4)
      await content.pin(root)
      expect((await pinnedSet(content)).get(root.toString())).toBe(Infinity)
      expect(await content.isPinned(root)).toBe(true)
      // a leaf is held through the root's pin, not pinned itself
      expect(await content.isPinned(dag[1]!.cid)).toBe(false)
      // depth 0: the block alone
      const single = await rawBlock(500)
      await content.put(single.cid, single.bytes)
      await content.pin(single.cid, { depth: 0 })
      expect((await pinnedSet(content)).get(single.cid.toString())).toBe(0)
      await content.unpin(root)
      await content.unpin(root)
      await content.unpin(single.cid)
      expect(await content.isPinned(root)).toBe(false)
      const left = await pinnedSet(content)
      expect(left.has(root.toString())).toBe(false)
      expect(left.has(single.cid.toString())).toBe(false)
    })

    it('a pin that cannot get its blocks stops on abort and pins nothing', async () => {
      const missing = await rawBlock(100)
      const root = await pbNode([missing])
      await content.put(root.cid, root.bytes)
      await expect(content.pin(root.cid, { signal: AbortSignal.timeout(700) })).rejects.toThrow()
      expect((await pinnedSet(content)).has(root.cid.toString())).toBe(false)
    })

    it('pins a DAG held only elsewhere, fetching it', async (ctx) => {
      if (harness.elsewhere == null) ctx.skip()
      const dag = await smallDag(3)
      await harness.elsewhere!(dag)
      let blocks = 0
      await content.pin(dag[0]!.cid, { signal: AbortSignal.timeout(60_000), onProgress: n => { blocks = n } })
      expect(blocks).toBeGreaterThanOrEqual(4)
      for (const b of dag) expect(await content.has(b.cid)).toBe(true)
      await content.unpin(dag[0]!.cid)
    }, 90_000)

    it('stat counts the bytes held', async () => {
      const before = await content.stat()
      const big = await rawBlock(200_000)
      await content.put(big.cid, big.bytes)
      const after = await content.stat()
      expect(after.bytes).toBeGreaterThan(0)
      expect(after.bytes).toBeGreaterThanOrEqual(before.bytes)
      if (after.blocks != null) expect(after.blocks).toBeGreaterThan(before.blocks ?? 0)
    })
  })
}
