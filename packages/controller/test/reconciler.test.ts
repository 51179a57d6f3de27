import { describe, expect, it, vi } from 'vitest'
import { createHash } from 'node:crypto'
import { pino } from 'pino'
import { createHeliaLight } from 'helia'
import { ContentUnavailableError, MemoryStore, memoryContent, type Content } from '@distromash/p2pcomm'
import { addFile, digestToRawCid, writeLayout, type Digest } from '@distromash/multiplatform2ipfs'
import { MemoryDatastore } from 'datastore-core/memory'
import type { CID } from 'multiformats/cid'
import type { Blockstore } from 'interface-blockstore'
import { MemoryDockerEngine } from '../src/reconciler/memory-docker.js'
import { ImageCache } from '../src/disk/image-cache.js'
import { PinSet } from '../src/reconciler/pin-set.js'
import { Reconciler } from '../src/reconciler/reconciler.js'
import { Records, type StrategyRecord } from '../src/records/index.js'

const ME = '12D3KooWme'
const log = pino({ level: 'silent' })
const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
const digest = (b: Uint8Array): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest

/** A two-platform image layout built in memory: index → amd64 and arm64 manifests, each with a config and a layer */
async function twoPlatformImage (blockstore: Blockstore): Promise<{ cid: string, arm64Layer: Digest, amd64Layer: Digest }> {
  const blobs = new Map<Digest, Awaited<ReturnType<typeof addFile>>>()
  const put = async (bytes: Uint8Array): Promise<{ digest: Digest, size: number }> => {
    const d = digest(bytes)
    blobs.set(d, await addFile(bytes, blockstore))
    return { digest: d, size: bytes.length }
  }
  const manifests = []
  const layers: Record<string, Digest> = {}
  for (const arch of ['amd64', 'arm64']) {
    const layer = await put(new Uint8Array(200 * 1024).fill(arch === 'amd64' ? 1 : 2))
    layers[arch] = layer.digest
    const config = await put(json({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }))
    const manifest = await put(json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }] }))
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { os: 'linux', architecture: arch } })
  }
  const index = await put(json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }))
  const root = await writeLayout({ top: { mediaType: 'application/vnd.oci.image.index.v1+json', ...index }, tag: '1', blobs }, blockstore)
  return { cid: root.cid.toString(), amd64Layer: layers.amd64 as Digest, arm64Layer: layers.arm64 as Digest }
}

async function setup (arch: string | null = 'linux/amd64', resolvePull?: (ref: string) => Promise<string>, poisoned?: string, wrap?: (content: Content) => Content, more: { importedBy?: string, peersFirst?: (signal: AbortSignal) => Promise<void> } = {}) {
  const source = createHeliaLight()
  const image = await twoPlatformImage(source.blockstore)
  // this node starts empty; blocks "arrive from the mesh" by copying from the source on demand
  const fetched: string[] = []
  const content = memoryContent({
    remote: async cid => {
      fetched.push(cid.toString())
      const parts: Uint8Array[] = []
      for await (const part of source.blockstore.get(cid)) parts.push(part)
      return Buffer.concat(parts)
    }
  })
  const datastore = new MemoryDatastore()
  const records = new Records(await MemoryStore.create(), ME)
  lastRecords = records
  const docker = new MemoryDockerEngine(arch, resolvePull)
  const pins = await PinSet.open(content, datastore)
  const reconciler = new Reconciler({ peerId: ME, records: records, resolve: async n => {
    if (n === poisoned) throw new Error(`cannot resolve ${n}`)
    return n === 'app:1' ? { cid: image.cid, ...(more.importedBy != null ? { importedBy: more.importedBy } : {}) } : undefined
  }, content: wrap?.(content) ?? content, pins, docker, registry: '127.0.0.1:5005', log, intervalMs: 60_000, ...(more.peersFirst != null ? { peersFirst: more.peersFirst } : {}) })
  return { image, content, datastore, records, docker, pins, reconciler, fetched }
}

const strategy = (key: string, execute = true): StrategyRecord => ({ key, type: 'percentage', nametag: 'app:1', percentage: 50, execute, createdAt: '', updatedAt: '', createdBy: 'x' })

let lastRecords: Records | undefined
async function until (check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  throw new Error(`timed out: ${what}: ${JSON.stringify(await lastRecords?.statuses())}`)
}

describe('reconciler', () => {
  it('fetches only its platform, pins it, loads it through the registry, reports loaded', async () => {
    const { image, content, records, docker, reconciler } = await setup()
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1') as { state?: string } | undefined)?.state === 'loaded', 'loaded')
    expect(docker.pulls).toEqual(['127.0.0.1:5005/app:1'])
    expect(await docker.imageId('app:1')).toBeDefined()
    // single-chunk layers: their CID is their digest; only this platform's layer was fetched and pinned
    const amd64 = digestToRawCid(image.amd64Layer)
    expect(await content.has(amd64)).toBe(true)
    expect(await content.isPinned(amd64)).toBe(true)
    expect(await content.has(digestToRawCid(image.arm64Layer))).toBe(false)
    await reconciler.stop()
  })

  it('lets its peers go first when it holds the image they fetch, and only then', async () => {
    const waits: string[] = []
    let release!: () => void
    const released = new Promise<void>(resolve => { release = resolve })
    const peersFirst = async (): Promise<void> => { waits.push('waited'); await released }
    // the importer, assigned with a peer: a holder whose peers fetch from it
    const holder = await setup('linux/amd64', undefined, undefined, undefined, { importedBy: ME, peersFirst })
    await holder.records.putStrategy(strategy('s1'))
    await holder.records.putAssignment('s1', { peers: [ME, '12D3KooWpeer'], replicas: 2, at: '', by: 'x' })
    await holder.reconciler.start()
    await until(async () => waits.length === 1, 'peersFirst awaited')
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(holder.docker.pulls).toEqual([])
    release()
    await until(async () => (await holder.records.status(ME, 'app:1') as { state?: string } | undefined)?.state === 'loaded', 'loaded after')
    await holder.reconciler.stop()
    // a puller (the image imported elsewhere) does not wait
    const puller = await setup('linux/amd64', undefined, undefined, undefined, { importedBy: '12D3KooWseed', peersFirst: async () => { waits.push('puller waited') } })
    await puller.records.putStrategy(strategy('s1'))
    await puller.records.putAssignment('s1', { peers: [ME, '12D3KooWpeer'], replicas: 2, at: '', by: 'x' })
    await puller.reconciler.start()
    await until(async () => (await puller.records.status(ME, 'app:1') as { state?: string } | undefined)?.state === 'loaded', 'puller loaded')
    expect(waits).toEqual(['waited'])
    await puller.reconciler.stop()
  })

  it('acts on a change once the store has been quiet 20 ms, and passes at most every 100 ms while changes keep coming', async () => {
    const { records, docker, reconciler } = await setup()
    let passes = 0 // each pass pings the engine once; nothing is assigned here, so nothing else does
    const ping = docker.ping.bind(docker)
    docker.ping = async () => { passes++; await ping() }
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    try {
      await reconciler.start()
      await vi.advanceTimersByTimeAsync(25)
      expect(passes).toBe(1)
      // a strategy and its assignment a few milliseconds apart: one pass for both
      await records.putStrategy(strategy('s1', false))
      await vi.advanceTimersByTimeAsync(5)
      await records.putAssignment('s1', { peers: ['someone'], replicas: 1, at: '', by: 'x' })
      await vi.advanceTimersByTimeAsync(15)
      expect(passes).toBe(1)
      await vi.advanceTimersByTimeAsync(10)
      expect(passes).toBe(2)
      // a sync applying records every 10 ms for a second: a pass every 100 ms, not one per record nor none
      for (let i = 0; i < 100; i++) {
        reconciler.schedule()
        await vi.advanceTimersByTimeAsync(10)
      }
      expect(passes - 2).toBeGreaterThanOrEqual(9)
      expect(passes - 2).toBeLessThanOrEqual(11)
    } finally {
      vi.useRealTimers()
      await reconciler.stop()
    }
  })

  it('reports pinned (no docker) without an engine', async () => {
    const { records, reconciler } = await setup(null)
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1') as { state?: string } | undefined)?.state === 'pinned', 'pinned')
    expect(await records.status(ME, 'app:1')).toMatchObject({ docker: false, state: 'pinned' })
    await reconciler.stop()
  })

  it('loads what it pinned once an engine that was not up at start answers', async () => {
    const { records, docker, reconciler } = await setup(null)
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1'))?.state === 'pinned', 'pinned')
    docker.arch = 'linux/amd64'
    reconciler.schedule()
    await until(async () => (await records.status(ME, 'app:1'))?.state === 'loaded', 'loaded once the engine answers')
    expect(await records.status(ME, 'app:1')).toMatchObject({ docker: true })
    expect(docker.pulls).toEqual(['127.0.0.1:5005/app:1'])
    await reconciler.stop()
  })

  it('ignores strategies that do not execute or do not assign this peer', async () => {
    const { records, docker, reconciler } = await setup()
    await records.putStrategy(strategy('dry', false))
    await records.putAssignment('dry', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await records.putStrategy(strategy('other'))
    await records.putAssignment('other', { peers: ['12D3KooWsomeoneelse'], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(docker.pulls).toEqual([])
    expect(await records.statuses()).toEqual([])
    await reconciler.stop()
  })

  it('keeps the image while another strategy selects it, and releases it with the last one', async () => {
    const { records, docker, content, reconciler } = await setup()
    for (const key of ['s1', 's2']) {
      await records.putStrategy(strategy(key))
      await records.putAssignment(key, { peers: [ME], replicas: 1, at: '', by: 'x' })
    }
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1') as { state?: string } | undefined)?.state === 'loaded', 'loaded')
    await records.deleteStrategy('s1')
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(await docker.imageId('app:1')).toBeDefined()
    await records.deleteStrategy('s2')
    await until(async () => (await records.status(ME, 'app:1')) === undefined, 'released')
    expect(await docker.imageId('app:1')).toBeUndefined()
    const left = []
    for await (const pin of content.pinned()) left.push(pin)
    expect(left).toEqual([])
    await reconciler.stop()
  })

  it('with a disk budget, keeps the pins of an image no strategy assigns any more as a cache (owner cache:<image>), evictable', async () => {
    const { image, records, docker, content, datastore, pins } = await setup()
    const cache = new ImageCache(datastore, pins)
    const reconciler = new Reconciler({ peerId: ME, records, resolve: async n => n === 'app:1' ? { cid: image.cid } : undefined, content, pins, docker, registry: '127.0.0.1:5005', log, intervalMs: 60_000, cache })
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1') as { state?: string } | undefined)?.state === 'loaded', 'loaded')
    expect(await cache.evictable()).toEqual([]) // assigned: never evicted
    await records.deleteStrategy('s1')
    await until(async () => (await records.status(ME, 'app:1')) === undefined, 'released')
    expect(await docker.imageId('app:1')).toBeUndefined()
    const kept = await pins.entries()
    expect(kept.length).toBeGreaterThan(0)
    for (const { cid, owners } of kept) {
      expect(owners).toEqual(['cache:app:1'])
      expect(await content.isPinned(cid)).toBe(true)
    }
    expect((await cache.evictable()).map(p => p.cid.toString()).sort()).toEqual(kept.map(p => p.cid.toString()).sort())
    await reconciler.stop()
  })

  it('pins each blob as soon as the fetch has it whole, before the fetch ends; the directories after', async () => {
    let inner: Content | undefined
    const atFetchEnd: boolean[] = []
    let fetchedRoots: CID[] = []
    const wrap = (content: Content): Content => {
      inner = content
      return Object.assign(Object.create(content) as Content, {
        fetch: async (roots: CID[], options: Parameters<Content['fetch']>[1]) => {
          const result = await content.fetch(roots, options)
          // a last block that takes a while: the early pins run meanwhile
          await new Promise(resolve => setTimeout(resolve, 100))
          fetchedRoots = roots
          for (const root of roots) atFetchEnd.push(await content.isPinned(root))
          return result
        }
      })
    }
    const { records, reconciler } = await setup('linux/amd64', undefined, undefined, wrap)
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1') as { state?: string } | undefined)?.state === 'loaded', 'loaded')
    await reconciler.stop()
    // the top index, the amd64 manifest, its config and its layer: each pinned before the fetch ended
    expect(fetchedRoots).toHaveLength(4)
    expect(atFetchEnd).toEqual([true, true, true, true])
    const pinned: string[] = []
    for await (const pin of inner!.pinned()) pinned.push(`${pin.depth === 0 ? 'directory' : 'blob'}`)
    expect(pinned.sort()).toEqual([...Array(4).fill('blob'), ...Array(5).fill('directory')].sort())
  })

  it('does not fetch again after a restart when pins and engine agree', async () => {
    const { records, docker, content, datastore, image, reconciler } = await setup()
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1') as { state?: string } | undefined)?.state === 'loaded', 'loaded')
    await reconciler.stop()
    const again = new Reconciler({ peerId: ME, records, resolve: async () => ({ cid: image.cid }), content, pins: await PinSet.open(content, datastore), docker, registry: '127.0.0.1:5005', log })
    await again.start()
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(docker.pulls).toHaveLength(1)
    await again.stop()
  })

  it('one image that fails its pass (a poison record) is failed with a retry time, and the others proceed', async () => {
    const { records, reconciler } = await setup('linux/amd64', undefined, 'aaa:1')
    // the poisoned image comes first in the order of the pass
    await records.putStrategy({ ...strategy('s0'), nametag: 'aaa:1' })
    await records.putAssignment('s0', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1'))?.state === 'loaded', 'the healthy image loaded')
    expect(await records.status(ME, 'aaa:1')).toMatchObject({ state: 'failed', error: 'cannot resolve aaa:1', attempts: 1, retryAt: expect.any(String) })
    await reconciler.stop()
  })

  it('records a failure with a retry time instead of hiding it', async () => {
    const { records, reconciler } = await setup('linux/s390x')
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1') as { state?: string } | undefined)?.state === 'failed', 'failed')
    const status = await records.status(ME, 'app:1') as { error: string, retryAt: string, attempts: number }
    expect(status.error).toMatch(/no manifest for linux\/s390x/)
    expect(Date.parse(status.retryAt)).toBeGreaterThan(Date.now())
    expect(status.attempts).toBe(1)
    await reconciler.stop()
  })

  it('reports a pull that fails while the pins are written as failed, never as pinned after it', async () => {
    // the pull fails once the pins are being written (they run side by side)
    const { records, reconciler } = await setup('linux/amd64', async () => {
      await new Promise(resolve => setTimeout(resolve, 50))
      throw new Error('pull access denied')
    })
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1') as { state?: string } | undefined)?.state === 'failed', 'failed')
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(await records.status(ME, 'app:1')).toMatchObject({ state: 'failed', error: 'pull access denied', attempts: 1 })
    await reconciler.stop()
  })

  it('says so in its statuses while the content backend is away, and recovers without fetching again once it is back', async () => {
    let away = false
    const unavailable = (content: Content): Content => new Proxy(content, {
      get (target, prop) {
        const value = Reflect.get(target, prop) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          if (away) throw new ContentUnavailableError('Kubo API at http://127.0.0.1:5001 is unreachable: ECONNREFUSED')
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      }
    })
    const { records, docker, reconciler, fetched } = await setup('linux/amd64', undefined, undefined, unavailable)
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1'))?.state === 'loaded', 'loaded')
    const blocks = fetched.length
    away = true
    reconciler.schedule()
    await until(async () => (await records.status(ME, 'app:1'))?.state === 'failed', 'failed while away')
    expect((await records.status(ME, 'app:1'))?.error).toMatch(/^content backend unavailable: Kubo API at http:\/\/127.0.0.1:5001 is unreachable: ECONNREFUSED/)
    away = false
    reconciler.schedule()
    await until(async () => (await records.status(ME, 'app:1'))?.state === 'loaded', 'loaded again')
    expect(fetched.length).toBe(blocks)
    expect(docker.pulls).toHaveLength(1)
    await reconciler.stop()
  })

  it('says so in its statuses while the Docker engine is stopped, and is loaded again at once when it returns', async () => {
    const { records, docker, reconciler, fetched } = await setup()
    await records.putStrategy(strategy('s1'))
    await records.putAssignment('s1', { peers: [ME], replicas: 1, at: '', by: 'x' })
    await reconciler.start()
    await until(async () => (await records.status(ME, 'app:1'))?.state === 'loaded', 'loaded')
    const blocks = fetched.length
    docker.stopped = true
    reconciler.schedule()
    await until(async () => (await records.status(ME, 'app:1'))?.state === 'failed', 'failed while the engine is away')
    const failed = await records.status(ME, 'app:1')
    expect(failed?.error).toBe('docker engine unavailable: connect ENOENT /var/run/docker.sock')
    // no backoff: the engine's absence is not the image's fault
    expect(failed?.retryAt).toBeUndefined()
    docker.stopped = false
    reconciler.schedule()
    await until(async () => (await records.status(ME, 'app:1'))?.state === 'loaded', 'loaded again')
    expect(fetched.length).toBe(blocks)
    await reconciler.stop()
  })
})
