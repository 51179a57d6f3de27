import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DiskFullError, memoryContent, MemoryCollectable, collector } from '@distromash/p2pcomm'
import { MemoryDatastore } from 'datastore-core/memory'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { DiskBudget } from '../src/disk/budget.js'
import { ImageCache } from '../src/disk/image-cache.js'
import { measureDisk } from '../src/disk/usage.js'
import { PinSet } from '../src/reconciler/pin-set.js'

const log = pino({ level: 'silent' })
const cwd = tmpdir()
const MiB = 1024 * 1024

async function blockOf (text: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text)))
}

describe('disk settings', () => {
  it('takes --max-disk and the watermarks from flags, the environment or .env', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-disk-cfg-'))
    await writeFile(join(dir, '.env'), 'DISTROMASH_MAX_DISK=20GiB\n')
    expect(loadConfig([], {}, dir)).toMatchObject({ maxDisk: 20 * 1024 ** 3, diskLowWatermark: 80, diskHighWatermark: 90 })
    expect(loadConfig([], { DISTROMASH_MAX_DISK: '512MiB', DISTROMASH_DISK_LOW_WATERMARK: '50%' }, cwd)).toMatchObject({ maxDisk: 512 * MiB, diskLowWatermark: 50 })
    expect(loadConfig(['--max-disk', '1GiB', '--disk-high-watermark', '95'], {}, cwd)).toMatchObject({ maxDisk: 1024 ** 3, diskHighWatermark: 95 })
    expect(loadConfig([], {}, cwd).maxDisk).toBeUndefined()
  })

  it('refuses a bad size, bad watermarks, and --max-disk with a Kubo sidecar, naming the setting', () => {
    expect(() => loadConfig(['--max-disk', 'lots'], {}, cwd)).toThrow(/^invalid setting --max-disk \(DISTROMASH_MAX_DISK\): must be a size/)
    expect(() => loadConfig(['--disk-low-watermark', '120%'], {}, cwd)).toThrow(/--disk-low-watermark .*percentage/)
    expect(() => loadConfig(['--disk-low-watermark', '90', '--disk-high-watermark', '80'], {}, cwd)).toThrow(/^invalid setting --disk-low-watermark: 90% must be below --disk-high-watermark \(80%\)/)
    expect(() => loadConfig(['--max-disk', '1GiB', '--ipfs-api', 'http://127.0.0.1:5001'], {}, cwd)).toThrow(/^invalid setting --max-disk: not supported with --ipfs-api: Kubo keeps the content/)
  })
})

/** Pins over in-memory content, and a cache over them with a clock the test moves */
async function cacheSetup (): Promise<{ pins: PinSet, cache: ImageCache, content: ReturnType<typeof memoryContent>, clock: { now: number } }> {
  const content = memoryContent()
  const datastore = new MemoryDatastore()
  const pins = await PinSet.open(content, datastore)
  const clock = { now: 1_000_000 }
  return { pins, cache: new ImageCache(datastore, pins, () => clock.now), content, clock }
}

async function pinned (pins: PinSet, content: ReturnType<typeof memoryContent>, name: string, owner: string): Promise<CID> {
  const cid = await blockOf(name)
  await content.put(cid, new TextEncoder().encode(name))
  await pins.add(cid, owner)
  return cid
}

describe('image cache', () => {
  it('offers only pins that cache owners alone hold, least recently used first, and evicts by releasing them', async () => {
    const { pins, cache, content, clock } = await cacheSetup()
    const old = await pinned(pins, content, 'old', 'old:1')
    const recent = await pinned(pins, content, 'recent', 'recent:1')
    const assigned = await pinned(pins, content, 'assigned', 'assigned:1')
    const asked = await pinned(pins, content, 'asked', 'api:x')
    const imported = await pinned(pins, content, 'imported', 'import:y')
    await cache.keep('old:1')
    clock.now += 120_000
    await cache.keep('recent:1')
    clock.now += 120_000
    // an import seen for the first time counts as used now
    expect((await cache.evictable()).map(p => p.cid.toString())).toEqual([old, recent, imported].map(c => c.toString()))
    // a pull of the old image makes it the most recent
    clock.now += 120_000
    await cache.touch(old)
    const order = await cache.evictable()
    expect(order.map(p => p.cid.toString())).toEqual([recent, imported, old].map(c => c.toString()))
    expect(order[0]?.owners).toEqual(['cache:recent:1'])
    await cache.evict(order[0]!)
    expect(await content.isPinned(recent)).toBe(false)
    for (const cid of [old, assigned, asked, imported]) expect(await content.isPinned(cid)).toBe(true)
  })

  it('an image assigned again while cached is not evictable', async () => {
    const { pins, cache, content } = await cacheSetup()
    const cid = await pinned(pins, content, 'img', 'img:1')
    await cache.keep('img:1')
    expect(await cache.evictable()).toHaveLength(1)
    await pins.add(cid, 'img:1')
    expect(await cache.evictable()).toEqual([])
  })
})

describe('disk budget', () => {
  /** Use is the bytes of the blocks the collector keeps, in a memory store: 10 MiB per image */
  async function budgetSetup (limitBytes = 100 * MiB) {
    const { pins, cache, content, clock } = await cacheSetup()
    const blocks = new MemoryCollectable(() => clock.now - 3_600_000)
    const gc = collector({ blockstore: blocks, pinned: async cids => await Promise.all(cids.map(async c => (await pins.entries()).some(e => e.cid.equals(c)))) }, { graceMs: 0 })
    const image = async (name: string, owner: string): Promise<CID> => {
      const cid = await pinned(pins, content, name, owner)
      await blocks.put(cid, new Uint8Array(10 * MiB))
      return cid
    }
    const budget = new DiskBudget({
      limitBytes, lowWatermark: 0.55, highWatermark: 0.8, collector: gc, cache, log, intervalMs: 3_600_000,
      measure: async () => ({ usedBytes: 0, freeBytes: 1024 * MiB }), // the blocks are all there is, counted live
      blocks: () => blocks.usage()
    })
    return { pins, cache, content, clock, blocks, budget, image }
  }

  it('past the high watermark evicts cached images least recently used first until below the low one; assigned images stay', async () => {
    const { budget, cache, clock, image, content } = await budgetSetup()
    const assigned = []
    for (let i = 0; i < 4; i++) assigned.push(await image(`assigned${i}`, `assigned${i}:1`))
    const cached = []
    for (let i = 0; i < 5; i++) {
      cached.push(await image(`cached${i}`, `cached${i}:1`))
      await cache.keep(`cached${i}:1`)
      clock.now += 120_000
    }
    await budget.start()
    expect(budget.stats()).toMatchObject({ usedBytes: 90 * MiB, limitBytes: 100 * MiB, lowWatermarkBytes: 55 * MiB, highWatermarkBytes: 80 * MiB, full: false })
    await budget.tick()
    // 90 MiB → below 55 MiB: the four least recently used cached images go, the newest stays
    expect(budget.stats()).toMatchObject({ usedBytes: 50 * MiB, evictions: 4, full: false })
    for (const cid of cached.slice(0, 4)) expect(await content.isPinned(cid)).toBe(false)
    for (const cid of [...assigned, cached[4]!]) expect(await content.isPinned(cid)).toBe(true)
    await budget.stop()
  })

  it('refuses a block past the limit with DiskFullError and a readable reason, and admits again once room returns', async () => {
    const { budget, image, blocks, pins } = await budgetSetup(40 * MiB)
    const cids = []
    for (let i = 0; i < 4; i++) cids.push(await image(`assigned${i}`, `assigned${i}:1`))
    await budget.start()
    expect(() => { budget.admit(1) }).toThrow(DiskFullError)
    expect(() => { budget.admit(1) }).toThrow(/^disk full: the data dir uses 40\.0 MiB of --max-disk 40\.0 MiB/)
    expect(budget.stats()).toMatchObject({ full: true, reason: '--max-disk 40.0 MiB reached (40.0 MiB used)' })
    await pins.release(cids[0]!, 'assigned0:1')
    await blocks.remove([cids[0]!])
    await blocks.compact()
    await budget.tick()
    expect(() => { budget.admit(MiB) }).not.toThrow()
    expect(budget.stats().full).toBe(false)
    await budget.stop()
  })

  it('counts the block files and the uploads live, the walk leaving them out, so a write is seen once and at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-disk-live-'))
    await mkdir(join(dir, 'uploads'))
    await writeFile(join(dir, 'uploads', 'session'), Buffer.alloc(2 * MiB, 1))
    await writeFile(join(dir, '00000001.pack'), Buffer.alloc(4 * MiB, 1))
    await writeFile(join(dir, 'records'), Buffer.alloc(MiB, 1))
    const countedLive = (path: string): boolean => path === join(dir, 'uploads') || path.endsWith('.pack')
    expect((await measureDisk(dir, countedLive)).usedBytes).toBe(MiB)
    const blocks = { blocks: 16, liveBytes: 4 * MiB, fileBytes: 4 * MiB }
    let uploads = 2 * MiB
    const budget = new DiskBudget({
      limitBytes: 10 * MiB, lowWatermark: 0.5, highWatermark: 0.95, log, intervalMs: 3_600_000,
      measure: async () => await measureDisk(dir, countedLive), blocks: () => blocks, uploads: () => uploads
    })
    await budget.start()
    expect(budget.stats().usedBytes).toBe(7 * MiB)
    // growth counts before any new measure, and only once
    blocks.fileBytes += 2 * MiB
    expect(budget.stats().usedBytes).toBe(9 * MiB)
    expect(() => { budget.admit(2 * MiB) }).toThrow(/^disk full: the data dir uses 9\.0 MiB of --max-disk 10\.0 MiB/)
    // the upload stored and its file gone: room again at once
    uploads = 0
    expect(() => { budget.admit(2 * MiB) }).not.toThrow()
    await budget.stop()
  })

  it('without --max-disk only reports use and never refuses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-disk-'))
    await writeFile(join(dir, 'a'), Buffer.alloc(3 * MiB, 1))
    const budget = new DiskBudget({ lowWatermark: 0.8, highWatermark: 0.9, log, measure: async () => await measureDisk(dir) })
    await budget.start()
    const stats = budget.stats()
    expect(stats.usedBytes).toBeGreaterThanOrEqual(3 * MiB)
    expect(stats.freeBytes).toBeGreaterThan(0)
    expect(stats.limitBytes).toBeUndefined()
    expect(() => { budget.admit(1024 ** 4) }).not.toThrow()
    await budget.stop()
  })
})
