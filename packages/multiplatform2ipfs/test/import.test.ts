import { createHash } from 'node:crypto'
import { MemoryBlockstore } from 'blockstore-core/memory'
import * as dagPb from '@ipld/dag-pb'
import * as raw from 'multiformats/codecs/raw'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256Digest } from '../src/digest.js'
import { NotFoundError, PlatformNotFoundError } from '../src/errors.js'
import { createImporter, importImage, type ImportedImage, type ImportWriter } from '../src/importer.js'
import type { CID } from 'multiformats/cid'
import { rawCidToDigest } from '../src/layout/cid.js'
import { memoryDigestIndex } from '../src/layout/digest-index.js'
import { openLayout } from '../src/layout/reader.js'
import { OCI_INDEX, DOCKER_MANIFEST } from '../src/media-types.js'
import { createRegistryClient } from '../src/upstream/client.js'
import { collect } from './helpers/bytes.js'
import { pushMultiPlatformImage, pushSingleImage, type PushedImage } from './helpers/images.js'
import { startProxy } from './helpers/proxy.js'
import { startRegistry, type RunningRegistry } from './helpers/registry.js'
import type { ImportProgressEvents } from '../src/progress.js'

let registry: RunningRegistry
let multi: PushedImage
let single: PushedImage

beforeAll(async () => {
  registry = await startRegistry()
  multi = await pushMultiPlatformImage(registry.url, 'test/multi', '1')
  single = await pushSingleImage(registry.url, 'test/single', '1.0')
})

afterAll(async () => {
  await registry?.stop()
})

const setup = (): { blockstore: MemoryBlockstore, digestIndex: ReturnType<typeof memoryDigestIndex>, client: ReturnType<typeof createRegistryClient> } =>
  ({ blockstore: new MemoryBlockstore(), digestIndex: memoryDigestIndex(), client: createRegistryClient() })

async function upstreamDigest (repository: string, tag: string): Promise<string | null> {
  const res = await fetch(`${registry.url}/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: `${OCI_INDEX}, ${DOCKER_MANIFEST}` } })
  return res.headers.get('docker-content-digest')
}

async function layoutDigests (result: ImportedImage, blockstore: MemoryBlockstore): Promise<string[]> {
  const out: string[] = []
  for await (const blob of openLayout(result.cid, blockstore).blobs()) out.push(blob.digest)
  return out.sort()
}

describe('an import through a writer (one per import, as a Kubo-backed node streams each import as one CAR)', () => {
  /** A writer over a MemoryBlockstore that keeps its blocks aside until it is closed */
  const writers = (into: MemoryBlockstore): { open: () => ImportWriter, log: string[] } => {
    const log: string[] = []
    return {
      log,
      open: () => {
        const pending = new Map<string, { cid: CID, bytes: Uint8Array }>()
        log.push('open')
        return {
          put: async (cid, bytes) => { pending.set(cid.toString(), { cid, bytes: Uint8Array.prototype.slice.call(bytes) }) },
          has: async cid => pending.has(cid.toString()) || await into.has(cid),
          close: async () => { for (const b of pending.values()) await into.put(b.cid, b.bytes); log.push(`close ${pending.size}`) },
          abort: () => { pending.clear(); log.push('abort') }
        }
      }
    }
  }

  it('writes every block through the writer and closes it before the import resolves', async () => {
    const { digestIndex, client } = setup()
    const blockstore = new MemoryBlockstore()
    const { open, log } = writers(blockstore)
    const result = await createImporter({ client, blockstore: { put: async () => { throw new Error('not through the writer') }, has: async c => await blockstore.has(c) }, digestIndex, writer: open })
      .importImage(`${registry.host}/test/single:1.0`)
    expect(log).toHaveLength(2)
    expect(log[1]).toMatch(/^close \d+$/)
    expect((await layoutDigests(result, blockstore)).length).toBe(single.blobs.size)
  })

  it('aborts the writer when the import fails', async () => {
    const { digestIndex, client } = setup()
    const blockstore = new MemoryBlockstore()
    const { open, log } = writers(blockstore)
    await expect(createImporter({ client, blockstore, digestIndex, writer: open }).importImage(`${registry.host}/test/multi:1`, { platforms: ['linux/s390x'] })).rejects.toThrow()
    // the plan failed before any writer was needed, or the writer was aborted: never closed
    expect(log.filter(l => l.startsWith('close'))).toEqual([])
  })
})

describe('importImage from a real docker-registry', () => {
  it('imports a multi-platform index with every blob byte-identical', async () => {
    const { blockstore, digestIndex, client } = setup()
    const result = await importImage(`${registry.host}/test/multi:1`, { client, blockstore, digestIndex })
    expect(result.digest).toBe(await upstreamDigest('test/multi', '1'))
    expect(result.mediaType).toBe(OCI_INDEX)
    expect(result.platforms).toEqual(['linux/amd64', 'linux/arm64/v8'])
    expect(result.reference).toEqual({ registry: registry.host, repository: 'test/multi', tag: '1' })
    expect(result.size).toBe([...multi.blobs.values()].reduce((sum, b) => sum + b.size, 0))

    const layout = openLayout(result.cid, blockstore)
    expect((await layout.files()).sort()).toEqual(['blobs', 'index.json', 'oci-layout'])
    expect(Buffer.from(await layout.readFile('oci-layout')).toString()).toBe('{"imageLayoutVersion":"1.0.0"}')
    const index = await layout.index()
    expect(index.manifests).toEqual([{ mediaType: OCI_INDEX, digest: multi.digest, size: multi.size, annotations: { 'org.opencontainers.image.ref.name': '1' } }])
    expect(await layoutDigests(result, blockstore)).toEqual([...multi.blobs.keys()].sort())

    for (const blob of multi.blobs.values()) {
      const bytes = await collect(layout.blob(blob.digest))
      expect(Buffer.compare(bytes, blob.bytes)).toBe(0)
      expect(sha256Digest(bytes)).toBe(blob.digest)
      const stat = await layout.stat(blob.digest)
      expect(stat.size).toBe(blob.size)
      if (blob.size <= 262144) {
        // one chunk: a raw block whose CID carries the blob's own digest
        expect(stat.cid.code).toBe(raw.code)
        expect(rawCidToDigest(stat.cid)).toBe(blob.digest)
      }
    }
  })

  it('spreads the >4 MiB layer over several chunks and serves byte ranges', async () => {
    const { blockstore, digestIndex, client } = setup()
    const result = await importImage(`${registry.host}/test/multi:1`, { client, blockstore, digestIndex })
    const big = [...multi.blobs.values()].find(b => b.size > 4 * 1024 * 1024)
    if (big === undefined) throw new Error('test image has no big layer')
    const stat = await openLayout(result.cid, blockstore).stat(big.digest)
    expect(stat.cid.code).toBe(dagPb.code)
    const root = dagPb.decode(await collect(blockstore.get(stat.cid)))
    expect(root.Links.length).toBe(Math.ceil(big.size / 262144))
    const range = await collect(openLayout(result.cid, blockstore).blob(big.digest, { offset: 300_000, length: 500_000 }))
    expect(Buffer.compare(range, big.bytes.subarray(300_000, 800_000))).toBe(0)
  })

  it('gives the same root CID through an upstream mirror, deterministically', async () => {
    const a = await importImage(`${registry.host}/test/multi:1`, setup())
    const mirrored = setup()
    const b = await importImage('test/multi:1', { ...mirrored, client: createRegistryClient({ upstream: registry.url }) })
    expect(b.reference).toEqual({ registry: 'docker.io', repository: 'test/multi', tag: '1' })
    expect(b.cid.toString()).toBe(a.cid.toString())
  })

  it('imports only the filtered platform, still keeping the whole top index', async () => {
    const { blockstore, digestIndex, client } = setup()
    const result = await importImage(`${registry.host}/test/multi:1`, { client, blockstore, digestIndex, platforms: ['linux/arm64'] })
    const arm = multi.manifests.find(m => m.platform === 'linux/arm64/v8')
    if (arm === undefined) throw new Error('no arm64 manifest')
    expect(result.platforms).toEqual(['linux/arm64/v8'])
    expect(await layoutDigests(result, blockstore)).toEqual([multi.digest, arm.digest, arm.config.digest, ...arm.layers.map(l => l.digest)].sort())
    const top = await collect(openLayout(result.cid, blockstore).blob(multi.digest))
    expect(Buffer.compare(top, multi.bytes)).toBe(0)
  })

  it('refuses a platform the image does not have', async () => {
    await expect(importImage(`${registry.host}/test/multi:1`, { ...setup(), platforms: ['linux/s390x'] })).rejects.toThrow(PlatformNotFoundError)
  })

  it('imports a single-platform Docker schema2 image', async () => {
    const { blockstore, digestIndex, client } = setup()
    const result = await importImage(`${registry.host}/test/single:1.0`, { client, blockstore, digestIndex, platforms: ['linux/amd64'] })
    expect(result.digest).toBe(single.digest)
    expect(result.mediaType).toBe(DOCKER_MANIFEST)
    expect(result.platforms).toEqual(['linux/amd64'])
    expect(await layoutDigests(result, blockstore)).toEqual([...single.blobs.keys()].sort())
    await expect(importImage(`${registry.host}/test/single:1.0`, { ...setup(), platforms: ['linux/arm64'] })).rejects.toThrow(PlatformNotFoundError)
  })

  it('imports by digest, without a ref.name annotation', async () => {
    const { blockstore, digestIndex, client } = setup()
    const result = await importImage(`${registry.host}/test/multi@${multi.digest}`, { client, blockstore, digestIndex })
    expect(result.digest).toBe(multi.digest)
    const index = await openLayout(result.cid, blockstore).index()
    expect(index.manifests[0]?.annotations).toBeUndefined()
  })

  it('does not fetch blobs already in the digest index', async () => {
    const components = setup()
    const importer = createImporter(components)
    await importer.importImage(`${registry.host}/test/multi:1`, { platforms: ['linux/arm64'] })
    const events: ImportProgressEvents[] = []
    const result = await importer.importImage(`${registry.host}/test/multi:1`, { onProgress: e => events.push(e) })
    const started = events.filter(e => e.type === 'import:blob:start').map(e => (e.detail as { digest: string }).digest)
    const skipped = events.filter(e => e.type === 'import:blob:skip').map(e => (e.detail as { digest: string }).digest)
    const arm = multi.manifests.find(m => m.platform === 'linux/arm64/v8')
    expect(skipped.sort()).toEqual([arm?.config.digest, ...(arm?.layers.map(l => l.digest) ?? [])].sort())
    expect(started).not.toContain(arm?.config.digest)
    expect(started.length).toBeGreaterThan(0)
    const bytes = events.filter(e => e.type === 'import:bytes').at(-1)?.detail as { done: number, total: number }
    expect(bytes.done).toBe(bytes.total)
    expect(events.at(-1)?.type).toBe('import:done')
    expect(result.platforms).toHaveLength(2)
  })

  it('joins concurrent imports of the same reference', async () => {
    const proxy = await startProxy({ upstream: registry.url })
    try {
      const components = { ...setup(), client: createRegistryClient({ upstream: proxy.url }) }
      const importer = createImporter(components)
      // a blob is started, or skipped when the concurrent one-shot run (same digest index) has it already
      const seen = { a: [] as string[], b: [] as string[] }
      const record = (into: string[]) => (e: ImportProgressEvents): void => {
        if (e.type === 'import:blob:start' || e.type === 'import:blob:skip') into.push((e.detail as { digest: string }).digest)
      }
      const [a, b, c, d] = await Promise.all([
        importer.importImage('test/multi:1', { onProgress: record(seen.a) }),
        importer.importImage('docker.io/test/multi:1', { onProgress: record(seen.b) }),
        importImage('test/multi:1', components),
        importImage('index.docker.io/test/multi:1', components)
      ])
      expect(a).toBe(b)
      expect(c).toBe(d)
      expect(c.cid.toString()).toBe(a.cid.toString())
      // configs and layers: amd64 (config, 2 layers), arm64 (config, layer), attestation (config, statement);
      // each once, and both joined callers told the same
      expect(new Set(seen.a).size).toBe(7)
      expect(seen.a).toHaveLength(7)
      expect(seen.b).toEqual(seen.a)
      // two runs (the importer's and the one-shot's), not four; the second finds blobs in the shared index or in flight
      const blobGets = proxy.requests.filter(r => r.startsWith('GET /v2/test/multi/blobs/'))
      expect(blobGets.length).toBeLessThanOrEqual(14)
      expect(proxy.requests.filter(r => r === 'GET /v2/test/multi/manifests/1')).toHaveLength(2)
    } finally {
      await proxy.stop()
    }
  })

  it('stops when the caller aborts, recording no unverified blob', async () => {
    const components = setup()
    const controller = new AbortController()
    const run = importImage(`${registry.host}/test/multi:1`, {
      ...components,
      signal: controller.signal,
      onProgress: e => { if (e.type === 'import:bytes') controller.abort(new Error('user gave up')) }
    })
    await expect(run).rejects.toThrow('user gave up')
    const big = [...multi.blobs.values()].find(b => b.size > 4 * 1024 * 1024)
    expect(await components.digestIndex.get(big?.digest ?? 'sha256:0')).toBeUndefined()
  })

  it('reports a missing tag as NotFoundError', async () => {
    await expect(importImage(`${registry.host}/test/multi:nope`, setup())).rejects.toThrow(NotFoundError)
  })

  it('verifies the test helpers built a real gzip tar layer', async () => {
    const layer = single.manifests[0]?.layers[0]
    expect(layer).toBeDefined()
    expect(createHash('sha256').update(layer?.bytes ?? new Uint8Array()).digest('hex')).toBe(layer?.digest.slice(7))
  })
})
