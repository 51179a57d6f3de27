import { appendFile, cp, mkdir, open as openFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { PackBlockstore, type PackBlockstoreInit } from '../src/blockstore/pack-blockstore.js'
import { KIND_BLOCK, encodeIndexRecord } from '../src/blockstore/pack-format.js'
import { MAX_WRITE_BYTES, Pack } from '../src/blockstore/pack.js'
import { block, blockstoreConformance, dir, read } from './blockstore-conformance.js'

blockstoreConformance('PackBlockstore', path => new PackBlockstore(path))

const open: PackBlockstore[] = []
afterEach(async () => { for (const store of open.splice(0)) await store.close() })

interface Warning { obj: Record<string, unknown>, msg: string }

/** A store at `path` that held `blocks` and was closed cleanly */
async function writeAndClose (path: string, blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<void> {
  const { store: s } = await store(path)
  for (const b of blocks) await s.put(b.cid, b.bytes)
  await s.close()
}

async function store (path: string, init: PackBlockstoreInit = {}): Promise<{ store: PackBlockstore, warnings: Warning[] }> {
  const warnings: Warning[] = []
  const s = new PackBlockstore(path, { log: { warn: (obj, msg) => { warnings.push({ obj: obj as Record<string, unknown>, msg }) } }, ...init })
  await s.open()
  open.push(s)
  return { store: s, warnings }
}

/** Puts, then stops without closing: what a killed process leaves behind (no commit runs). */
async function crashAfterPutting (path: string, blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<string> {
  const { store: s } = await store(path, { commitDelayMs: 3_600_000, commitBytes: Number.MAX_SAFE_INTEGER })
  for (const b of blocks) await s.put(b.cid, b.bytes)
  // a copy of the directory as it is now, before close() would commit
  const copy = join(await dir(), 'blocks')
  await cp(path, copy, { recursive: true })
  return copy
}

async function packFiles (path: string): Promise<string[]> {
  return (await readdir(join(path, 'packs'))).sort()
}

async function expectBlocks (s: PackBlockstore, blocks: Array<{ cid: CID, bytes: Uint8Array }>): Promise<void> {
  for (const b of blocks) {
    expect(await s.has(b.cid)).toBe(true)
    const bytes = await read(s, b.cid)
    expect(bytes.equals(b.bytes)).toBe(true)
    // the bytes still hash to the CID
    expect(CID.createV1(raw.code, await sha256.digest(bytes)).equals(b.cid)).toBe(true)
  }
}

describe('PackBlockstore', () => {
  it('appends blocks to one pack instead of a file each', async () => {
    const path = join(await dir(), 'blocks')
    const { store: s } = await store(path)
    const blocks = await Promise.all(Array.from({ length: 20 }, async () => block(262_144)))
    await Promise.all(blocks.map(async b => s.put(b.cid, b.bytes)))
    await s.commit()
    expect(await packFiles(path)).toEqual(['00000001.idx', '00000001.pack'])
    expect((await stat(join(path, 'packs', '00000001.pack'))).size).toBeGreaterThan(20 * 262_144)
    await expectBlocks(s, blocks)
  })

  it('names the files usage() counts: its packs, not their indexes (a disk walk leaves them out)', async () => {
    const path = join(await dir(), 'blocks')
    const { store: s } = await store(path)
    const b = await block(262_144)
    await s.put(b.cid, b.bytes)
    await s.commit()
    const pack = join(path, 'packs', '00000001.pack')
    expect(s.countsFile(pack)).toBe(true)
    expect(s.usage().fileBytes).toBe((await stat(pack)).size)
    expect(s.countsFile(join(path, 'packs', '00000001.idx'))).toBe(false)
    expect(s.countsFile(join(path, 'other', '00000001.pack'))).toBe(false)
    expect(s.countsFile(join(path, 'packs'))).toBe(false)
  })

  // a full disk (ENOSPC on the index log) fails one commit; blocks written later into the same
  // pack are then indexed past the failed batch, and a restart's tail scan starts after them
  it('keeps the blocks of a failed commit: indexed by the next commit, found after a restart', async () => {
    const path = join(await dir(), 'blocks')
    const { store: s, warnings } = await store(path, { commitDelayMs: 3_600_000, commitBytes: Number.MAX_SAFE_INTEGER })
    const first = await block(262_144)
    const later = await block(262_144)
    const appendIndex = Pack.prototype.appendIndex
    let fail = true
    Pack.prototype.appendIndex = async function (this: Pack, records) {
      if (fail) { fail = false; throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }) }
      return await appendIndex.call(this, records)
    }
    try {
      await s.put(first.cid, first.bytes)
      await expect(s.commit()).rejects.toThrow(/ENOSPC/)
      expect(warnings.map(w => w.msg).join()).toMatch(/commit failed/)
      await s.put(later.cid, later.bytes)
      await s.commit()
    } finally {
      Pack.prototype.appendIndex = appendIndex
    }
    await s.close()
    const { store: reopened } = await store(path)
    await expectBlocks(reopened, [first, later])
  })

  it('writes a block given in parts as they are, in order, never joined first; read back after a restart', async () => {
    const path = join(await dir(), 'blocks')
    const { cid, bytes } = await block(300_000)
    // views into larger buffers with other bytes around them, as frames off a stream are
    const framed = (from: number, to: number): Uint8Array => { const b = new Uint8Array(to - from + 20).fill(7); b.set(bytes.subarray(from, to), 10); return b.subarray(10, 10 + to - from) }
    const parts = [framed(0, 65_000), framed(65_000, 65_001), framed(65_001, 300_000)]
    const given: unknown[] = []
    const append = Pack.prototype.append
    Pack.prototype.append = async function (this: Pack, multihash, block) { given.push(...block.parts); return await append.call(this, multihash, block) }
    try {
      const { store: s } = await store(path)
      await s.put(cid, parts)
      await s.close()
    } finally {
      Pack.prototype.append = append
    }
    expect(given).toHaveLength(3)
    given.forEach((part, i) => { expect(part).toBe(parts[i]) })
    const { store: again } = await store(path)
    await expectBlocks(again, [{ cid, bytes }])
  })

  it('coalesces waiting puts into writes of at most 1 MiB (a bigger record alone), every block back after a restart', async () => {
    const path = join(await dir(), 'blocks')
    const blocks = await Promise.all(Array.from({ length: 40 }, async (_, i) => await block(i === 20 ? 3 * MAX_WRITE_BYTES : 262_144)))
    const { store: s } = await store(path)
    // every writev of the pack file, by the size of what it was given
    const probe = await openFile(join(await dir(), 'probe'), 'w')
    const proto = Object.getPrototypeOf(probe) as { writev: (buffers: Uint8Array[], position?: number) => Promise<unknown> }
    await probe.close()
    const writev = proto.writev
    const sizes: number[] = []
    proto.writev = async function (this: unknown, buffers, position) { sizes.push(buffers.reduce((n, b) => n + b.byteLength, 0)); return await writev.call(this, buffers, position) }
    try {
      await Promise.all(blocks.map(async b => { await s.put(b.cid, b.bytes) })) // all waiting at once
    } finally {
      proto.writev = writev
    }
    await s.close()
    const record = 3 * MAX_WRITE_BYTES + 1024 // the big block and its header
    expect(sizes.filter(n => n > record)).toEqual([])
    expect(sizes.filter(n => n > MAX_WRITE_BYTES)).toHaveLength(1) // the big block, alone
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(39 * 262_144 + 3 * MAX_WRITE_BYTES)
    expect(sizes.length).toBeLessThan(40) // still coalesced: three 256 KiB blocks and their headers fit one write
    const { store: again } = await store(path)
    await expectBlocks(again, blocks)
  })

  it('reads every block after a restart', async () => {
    const path = join(await dir(), 'blocks')
    const blocks = await Promise.all(Array.from({ length: 10 }, async (_, i) => block(i * 1000)))
    await writeAndClose(path, blocks)
    const { store: again, warnings } = await store(path)
    await expectBlocks(again, blocks)
    expect(warnings).toEqual([])
    // a restart starts a new pack for new blocks; the old one stays as it is
    const late = await block()
    await again.put(late.cid, late.bytes)
    expect(await packFiles(path)).toEqual(['00000001.idx', '00000001.pack', '00000002.idx', '00000002.pack'])
  })

  it('recovers blocks written after the last commit from the pack tail, hashes checked', async () => {
    const blocks = await Promise.all(Array.from({ length: 5 }, async () => block(100_000)))
    const crashed = await crashAfterPutting(join(await dir(), 'blocks'), blocks)
    expect((await readFile(join(crashed, 'packs', '00000001.idx'))).byteLength).toBe(0)
    const { store: s, warnings } = await store(crashed)
    await expectBlocks(s, blocks)
    expect(warnings).toEqual([])
    // and they are indexed now, so the next open does not scan them again
    expect((await readFile(join(crashed, 'packs', '00000001.idx'))).byteLength).toBeGreaterThan(0)
  })

  it('cuts off a torn record at the end of the pack and keeps the blocks before it', async () => {
    const blocks = await Promise.all(Array.from({ length: 3 }, async () => block(50_000)))
    const crashed = await crashAfterPutting(join(await dir(), 'blocks'), blocks)
    const pack = join(crashed, 'packs', '00000001.pack')
    const whole = (await stat(pack)).size
    await truncate(pack, whole - 10_000) // the last block is half written
    const { store: s, warnings } = await store(crashed)
    await expectBlocks(s, blocks.slice(0, 2))
    expect(await s.has(blocks[2]!.cid)).toBe(false)
    expect(warnings[0]?.msg).toMatch(/damaged block pack/)
    expect((await stat(pack)).size).toBe(whole - 50_039) // cut back to the end of the second block (header 39 bytes)
  })

  it('stops at a tail block whose bytes do not match its multihash', async () => {
    const blocks = await Promise.all(Array.from({ length: 3 }, async () => block(50_000)))
    const crashed = await crashAfterPutting(join(await dir(), 'blocks'), blocks)
    const pack = join(crashed, 'packs', '00000001.pack')
    const bytes = await readFile(pack)
    bytes[bytes.byteLength - 50_000 - 100]! ^= 0xff // inside the second block
    await writeFile(pack, bytes)
    const { store: s, warnings } = await store(crashed)
    await expectBlocks(s, blocks.slice(0, 1))
    expect(await s.has(blocks[1]!.cid)).toBe(false)
    expect(await s.has(blocks[2]!.cid)).toBe(false)
    expect(warnings).toHaveLength(1)
  })

  it('detects a truncated pack: indexed blocks past its end are gone, the rest are kept', async () => {
    const path = join(await dir(), 'blocks')
    const blocks = await Promise.all(Array.from({ length: 4 }, async () => block(50_000)))
    await writeAndClose(path, blocks)
    const pack = join(path, 'packs', '00000001.pack')
    await truncate(pack, (await stat(pack)).size - 60_000)
    const { store: s, warnings } = await store(path)
    await expectBlocks(s, blocks.slice(0, 2))
    for (const b of blocks.slice(2)) expect(await s.has(b.cid)).toBe(false)
    expect(JSON.stringify(warnings)).toMatch(/truncated: 2 indexed blocks/)
  })

  it('ignores a torn index record and finds its block by scanning', async () => {
    const path = join(await dir(), 'blocks')
    const blocks = await Promise.all(Array.from({ length: 2 }, async () => block(1000)))
    await writeAndClose(path, blocks)
    const idx = join(path, 'packs', '00000001.idx')
    await truncate(idx, (await stat(idx)).size - 5)
    const { store: s, warnings } = await store(path)
    await expectBlocks(s, blocks)
    expect(JSON.stringify(warnings)).toMatch(/torn or damaged/)
  })

  it('keeps deletes across a restart, and a block put again after its delete', async () => {
    const path = join(await dir(), 'blocks')
    const [a, b] = await Promise.all([block(), block()])
    const first = await store(path)
    await first.store.put(a!.cid, a!.bytes)
    await first.store.put(b!.cid, b!.bytes)
    await first.store.commit()
    await first.store.delete(a!.cid)
    await first.store.delete(b!.cid)
    await first.store.put(b!.cid, b!.bytes)
    await first.store.close()
    const { store: s } = await store(path)
    expect(await s.has(a!.cid)).toBe(false)
    await expectBlocks(s, [b!])
  })

  it('removes a pack once every block in it is deleted', async () => {
    const path = join(await dir(), 'blocks')
    const old = await block()
    const first = await store(path)
    await first.store.put(old.cid, old.bytes)
    await first.store.close()
    const second = await store(path)
    const kept = await block()
    await second.store.put(kept.cid, kept.bytes)
    await second.store.delete(old.cid)
    await second.store.close()
    const { store: s } = await store(path)
    expect(await packFiles(path)).toEqual(['00000002.idx', '00000002.pack'])
    await expectBlocks(s, [kept])
    expect(await s.has(old.cid)).toBe(false)
  })

  it('starts a new pack when the current one is full', async () => {
    const path = join(await dir(), 'blocks')
    const blocks = await Promise.all(Array.from({ length: 6 }, async () => block(100_000)))
    const first = await store(path, { maxPackBytes: 250_000 })
    await Promise.all(blocks.map(async b => first.store.put(b.cid, b.bytes)))
    await first.store.close()
    expect((await packFiles(path)).filter(f => f.endsWith('.pack')).length).toBeGreaterThanOrEqual(2)
    const { store: s } = await store(path)
    await expectBlocks(s, blocks)
  })

  it('reads blocks blockstore-fs wrote in the same directory, and lists them once', async () => {
    const path = join(await dir(), 'blocks')
    const fs = new FsBlockstore(path)
    await fs.open()
    const old = await block()
    await fs.put(old.cid, old.bytes)
    const { store: s } = await store(path)
    const fresh = await block()
    await s.put(fresh.cid, fresh.bytes)
    await s.put(old.cid, old.bytes) // now in a pack as well
    await expectBlocks(s, [old, fresh])
    const all: string[] = []
    for await (const pair of s.getAll()) all.push(pair.cid.multihash.toString())
    expect(all.sort()).toEqual([old.cid.multihash.toString(), fresh.cid.multihash.toString()].sort())
    await s.delete(old.cid)
    expect(await s.has(old.cid)).toBe(false)
  })

  it('moves a file that is not a pack aside instead of refusing to open', async () => {
    const path = join(await dir(), 'blocks')
    const first = await store(path)
    const b = await block()
    await first.store.put(b.cid, b.bytes)
    await first.store.close()
    await writeFile(join(path, 'packs', '00000002.pack'), '')
    await appendFile(join(path, 'packs', '00000002.idx'), 'stale')
    const { store: s, warnings } = await store(path)
    await expectBlocks(s, [b])
    expect(warnings[0]?.msg).toMatch(/not a block pack/)
    const late = await block()
    await s.put(late.cid, late.bytes)
    await s.close()
    const { store: again } = await store(path)
    await expectBlocks(again, [b, late])
  })

  it('never applies a stale index left without its pack to a new pack of the same number', async () => {
    const path = join(await dir(), 'blocks')
    const ghost = await block(500)
    const real = await block(500)
    await mkdir(join(path, 'packs'), { recursive: true })
    // names bytes [8, 508) of pack 1, which will hold another block
    await writeFile(join(path, 'packs', '00000001.idx'), encodeIndexRecord({ kind: KIND_BLOCK, multihash: ghost.cid.multihash.bytes, offset: 8, length: 500 }))
    const first = await store(path)
    await first.store.put(real.cid, real.bytes)
    await first.store.close()
    const { store: s } = await store(path)
    expect(await s.has(ghost.cid)).toBe(false)
    await expectBlocks(s, [real])
  })
})
