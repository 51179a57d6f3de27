import { spawn, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, describe, expect, it } from 'vitest'
import { PackBlockstore } from '../src/blockstore/pack-blockstore.js'
import { DiskFullError } from '../src/disk/errors.js'
import { block, dir, read } from './blockstore-conformance.js'

type Block = { cid: CID, bytes: Uint8Array }

const CHILD = fileURLToPath(new URL('./fixtures/compaction-child.mjs', import.meta.url))
const BUILT = fileURLToPath(new URL('../dist/blockstore/pack-blockstore.js', import.meta.url))

async function verify (store: PackBlockstore, blocks: Block[]): Promise<void> {
  for (const b of blocks) {
    expect(await store.has(b.cid), `block ${b.cid.toString()} held`).toBe(true)
    const bytes = await read(store, b.cid)
    expect(CID.createV1(raw.code, await sha256.digest(bytes)).equals(b.cid), `block ${b.cid.toString()} hashes to its CID`).toBe(true)
  }
}

/** Runs the child until its first compaction starts, waits `delayMs`, kills it with SIGKILL; the phase it was in */
async function killDuringCompaction (path: string, keptFile: string, delayMs: number): Promise<string> {
  const child = spawn(process.execPath, [CHILD, path, keptFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  let last = ''
  let armed = false
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const lines = d.toString().trim().split('\n')
      if (!armed && lines.includes('compacting')) {
        armed = true
        setTimeout(() => { child.kill('SIGKILL'); resolve() }, delayMs)
      }
      last = lines.at(-1) ?? last
    })
    child.once('exit', code => { if (code !== null) reject(new Error(`child exited ${code}: ${stderr}`)) })
  })
  await exited
  return last
}

describe('pack compaction', () => {
  it('loses no kept block when killed with SIGKILL at random points of compactions', async () => {
    expect(existsSync(BUILT), 'the test runs the built pack blockstore in a child: run `npx tsc -b` first').toBe(true)
    const path = join(await dir(), 'blocks')
    const kept: Block[] = []
    const seed = new PackBlockstore(path, { maxPackBytes: 256 * 1024 })
    await seed.open()
    // kept blocks interleaved with garbage, over many packs
    for (let i = 0; i < 40; i++) {
      const [k, g] = await Promise.all([block(20_000 + i * 500), block(30_000)])
      await seed.put(k!.cid, k!.bytes)
      await seed.put(g!.cid, g!.bytes)
      kept.push(k!)
    }
    await seed.close()
    const keptFile = join(await dir(), 'kept.json')
    await writeFile(keptFile, JSON.stringify(kept.map(b => Buffer.from(b.cid.multihash.bytes).toString('base64'))))
    const phases = new Map<string, number>()
    for (let round = 0; round < 25; round++) {
      const phase = await killDuringCompaction(path, keptFile, Math.floor(Math.random() * 40))
      phases.set(phase, (phases.get(phase) ?? 0) + 1)
      const store = new PackBlockstore(path)
      await store.open()
      await verify(store, kept)
      await store.close()
    }
    console.log(`SIGKILLs by last phase printed: ${JSON.stringify(Object.fromEntries(phases))}`)
    // the kills landed inside compactions, not only between them
    expect((phases.get('compacting') ?? 0) + (phases.get('pack') ?? 0)).toBeGreaterThan(0)
    // and what was removed is gone for good once compacted: the packs hold little more than the kept bytes
    const store = new PackBlockstore(path)
    await store.open()
    await store.compact({ minGarbageRatio: 0.01 })
    const live = kept.reduce((sum, b) => sum + b.bytes.byteLength, 0)
    expect(store.usage().liveBytes).toBeGreaterThanOrEqual(live)
    await store.close()
  }, 120_000)

  it('compacts online: reads and writes go on, and every block is whole afterwards', async () => {
    const path = join(await dir(), 'blocks')
    const store = new PackBlockstore(path, { maxPackBytes: 8 * 1024 * 1024 })
    await store.open()
    const kept: Block[] = []
    const garbage: Block[] = []
    for (let i = 0; i < 256; i++) {
      const [k, g] = await Promise.all([block(262_144), block(262_144)])
      await store.put(k!.cid, k!.bytes)
      await store.put(g!.cid, g!.bytes)
      kept.push(k!)
      garbage.push(g!)
    }
    await store.commit()
    await store.remove(garbage.map(g => g.cid))
    let compacting = true
    let reads = 0
    let writes = 0
    const written: Block[] = []
    const reader = (async () => {
      while (compacting) {
        const b = kept[Math.floor(Math.random() * kept.length)]!
        expect(Buffer.compare(await read(store, b.cid), b.bytes)).toBe(0)
        reads++
      }
    })()
    const writer = (async () => {
      while (compacting) {
        const b = await block(262_144)
        await store.put(b.cid, b.bytes)
        written.push(b)
        writes++
      }
    })()
    const started = performance.now()
    const report = await store.compact()
    const seconds = (performance.now() - started) / 1000
    compacting = false
    await Promise.all([reader, writer])
    const mib = report.relocatedBytes / 2 ** 20
    console.log(`compaction: ${report.packs} packs, ${mib.toFixed(0)} MiB of kept blocks copied in ${seconds.toFixed(2)} s (${(mib / seconds).toFixed(0)} MiB/s), ${(report.reclaimedBytes / 2 ** 20).toFixed(0)} MiB given back; meanwhile ${reads} reads and ${writes} writes of 256 KiB`)
    expect(report.packs).toBeGreaterThanOrEqual(8)
    expect(report.reclaimedBytes).toBeGreaterThanOrEqual(256 * 262_144)
    expect(reads).toBeGreaterThan(0)
    expect(writes).toBeGreaterThan(0)
    await store.close()
    const again = new PackBlockstore(path)
    await again.open()
    await verify(again, [...kept, ...written])
    for (const g of garbage) expect(await again.has(g.cid)).toBe(false)
    await again.close()
  }, 120_000)

  it('does not take blocks still being written for garbage: a pack taking a push is not rewritten', async () => {
    const store = new PackBlockstore(join(await dir(), 'blocks'))
    await store.open()
    const held = await Promise.all(Array.from({ length: 8 }, async () => await block(262_144)))
    for (const b of held) await store.put(b.cid, b.bytes)
    const incoming = await Promise.all(Array.from({ length: 32 }, async () => await block(262_144)))
    const writing = Promise.all(incoming.map(async b => await store.put(b.cid, b.bytes)))
    // the appends are reserved in the pack and not yet indexed
    await new Promise(resolve => setImmediate(resolve))
    const report = await store.compact({ minGarbageRatio: 0.01 })
    await writing
    expect(report.packs).toBe(0)
    await verify(store, [...held, ...incoming])
    await store.close()
  })

  it('keeps a delete across compaction of the pack holding its tombstone while an older pack still holds the block', async () => {
    const path = join(await dir(), 'blocks')
    const first = new PackBlockstore(path, { maxPackBytes: 50_000 })
    await first.open()
    const [old, filler, other] = await Promise.all([block(40_000), block(40_000), block(40_000)])
    await first.put(old!.cid, old!.bytes) // pack 1
    await first.put(filler!.cid, filler!.bytes) // pack 1, now full
    await first.put(other!.cid, other!.bytes) // pack 2
    await first.commit()
    await first.delete(old!.cid) // tombstone in pack 2's log; pack 1 still holds the bytes
    await first.delete(other!.cid) // pack 2 is now all garbage, pack 1 half
    expect((await first.compact({ minGarbageRatio: 0.9 })).packs).toBe(1)
    const files = await readdir(join(path, 'packs'))
    expect(files).not.toContain('00000002.pack')
    expect(files).toContain('00000001.pack')
    await first.close()
    const again = new PackBlockstore(path)
    await again.open()
    expect(await again.has(old!.cid)).toBe(false)
    expect(await again.has(filler!.cid)).toBe(true)
    await again.close()
  })
})

/** A tmpfs of its own: a real file system that runs out of space */
describe('pack blockstore on a full disk', () => {
  const mountPoint = join('/tmp', `dm-disk-full-${process.pid}-${randomBytes(3).toString('hex')}`)
  afterAll(async () => {
    try { execFileSync('umount', [mountPoint]) } catch {}
    await rm(mountPoint, { recursive: true, force: true })
  })

  it('refuses blocks with DiskFullError while the file system is full, keeps serving, and takes blocks again once space returns', async () => {
    await mkdir(mountPoint, { recursive: true })
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint])
    } catch (err) {
      throw new Error(`this test mounts a 4 MiB tmpfs and needs root (mount -t tmpfs): ${(err as Error).message}`)
    }
    const filler = join(mountPoint, 'filler')
    await writeFile(filler, Buffer.alloc(1024 * 1024))
    const store = new PackBlockstore(join(mountPoint, 'blocks'), { maxPackBytes: 1024 * 1024, commitDelayMs: 5 })
    await store.open()
    const stored: Block[] = []
    let refusal: unknown
    for (let i = 0; i < 64 && refusal === undefined; i++) {
      const b = await block(100_000)
      try {
        await store.put(b.cid, b.bytes)
        stored.push(b)
      } catch (err) {
        refusal = err
      }
    }
    expect(refusal).toBeInstanceOf(DiskFullError)
    expect((refusal as Error).message).toMatch(/^disk full: no space left on the device of /)
    expect(stored.length).toBeGreaterThan(10)
    await verify(store, stored)
    // still full: refused again, not a crash or a broken store
    const more = await block(100_000)
    await expect(store.put(more.cid, more.bytes)).rejects.toThrow(DiskFullError)
    await rm(filler)
    await store.put(more.cid, more.bytes)
    stored.push(more)
    await store.commit()
    await store.close()
    const again = new PackBlockstore(join(mountPoint, 'blocks'))
    await again.open()
    await verify(again, stored)
    await again.close()
  })
})
