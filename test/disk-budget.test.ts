/*
 * --max-disk on a real node process: images pushed into its registry are cache (owner push:<cid>);
 * past the high watermark the least recently used are evicted and their blocks collected and
 * compacted away, while the node keeps answering; a blob past the limit is refused whole (507, the
 * reason named, nothing of it left behind) and the node takes an image that fits at once.
 */
import { createHash, randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { NodeProcess, eventually } from './helpers/node-process.js'

const MiB = 1024 * 1024
const REPOS = ['a/one', 'a/two', 'a/three', 'a/four', 'a/five']

interface Disk { usedBytes: number, limitBytes: number, highWatermarkBytes: number, lowWatermarkBytes: number, full: boolean, reason?: string, evictions: number, collections: number, removedBytes: number, reclaimedBytes: number }

const sha = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

async function pushBlob (registry: string, repo: string, bytes: Uint8Array): Promise<Response> {
  return await fetch(`${registry}/v2/${repo}/blobs/uploads/?digest=${sha(bytes)}`, {
    method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(30_000)
  })
}

/** A one-layer image of `layerBytes` random bytes; the manifest's digest */
async function pushImage (registry: string, repo: string, layerBytes: number): Promise<string> {
  const layer = randomBytes(layerBytes)
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }))
  for (const blob of [layer, config]) {
    const res = await pushBlob(registry, repo, blob)
    expect(res.status, await res.clone().text()).toBe(201)
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.byteLength },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.byteLength }]
  }))
  const res = await fetch(`${registry}/v2/${repo}/manifests/1`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } })
  expect(res.status, await res.clone().text()).toBe(201)
  return sha(manifest)
}

describe('disk budget on a node', () => {
  let node: NodeProcess | undefined
  afterAll(async () => { await node?.stop() })

  const disk = async (): Promise<Disk> => (await node!.api<{ disk: Disk }>('/health')).body.disk

  it('evicts pushed images past the high watermark, refuses a blob past the limit whole with the reason, stays up and takes an image that fits', async () => {
    const started = Date.now()
    node = await NodeProcess.start({
      env: { DISTROMASH_LOG_LEVEL: 'info' },
      extraArgs: ['--docker-host', 'unix:///nonexistent.sock', '--max-disk', '32MiB', '--disk-low-watermark', '40%', '--disk-high-watermark', '70%', '--disk-gc-grace', '1']
    })
    const registry = node.registryUrl
    const start = await disk()
    expect(start).toMatchObject({ limitBytes: 32 * MiB, full: false, evictions: 0 })
    const digests: string[] = []
    for (const repo of REPOS) digests.push(await pushImage(registry, repo, 5 * MiB))
    // 25 MiB of layers is past 70 % of 32 MiB: cached images go until use would be under 40 % (12.8 MiB), their blocks collected and compacted
    const after = await eventually(async () => {
      const d = await disk()
      return d.evictions > 0 && d.usedBytes < d.highWatermarkBytes && d.reclaimedBytes > 0 ? d : undefined
    }, 60_000, 'cached images evicted and their blocks collected')
    console.log(`disk after eviction: ${JSON.stringify(after)}`)
    expect(after.collections).toBeGreaterThan(0)
    expect(after.removedBytes).toBeGreaterThanOrEqual(5 * MiB)
    expect(after.reclaimedBytes).toBeGreaterThanOrEqual(5 * MiB)
    expect(after.evictions).toBeLessThan(REPOS.length)
    // what was not evicted is still pinned and served whole
    const pins = (await node.api<Array<{ cid: string, owners: string[] }>>('/api/v1/pins')).body
    expect(pins.filter(p => p.owners.some(o => o.startsWith('push:')))).toHaveLength(REPOS.length - after.evictions)
    let served = 0
    for (const [i, repo] of REPOS.entries()) {
      const res = await fetch(`${registry}/v2/${repo}/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' }, signal: AbortSignal.timeout(5_000) }).catch(() => undefined)
      if (res?.status === 200) {
        expect(res.headers.get('docker-content-digest')).toBe(digests[i])
        served++
      }
    }
    expect(served).toBe(REPOS.length - after.evictions)
    expect(served).toBeGreaterThanOrEqual(2)

    // more than is left: refused whole with the reason before any of its blocks is written, its
    // upload file removed; the node keeps answering and holds no more than before
    const before = await disk()
    const big = await pushBlob(registry, 'a/big', randomBytes(25 * MiB))
    expect(big.status).toBe(507)
    const body = await big.json() as { errors: Array<{ code: string, message: string }> }
    expect(body.errors[0]?.code).toBe('UNAVAILABLE')
    expect(body.errors[0]?.message).toMatch(/^disk full: the data dir uses .* of --max-disk 32\.0 MiB/)
    expect((await node.api('/health')).status).toBe(200)
    // a measure taken while the upload's file was there counts it until the next one (10 s)
    await eventually(async () => (await disk()).usedBytes <= before.usedBytes + MiB, 30_000, 'use back to what it was before the refused push')
    await pushImage(registry, 'a/six', 2 * MiB)
    console.log(`disk at the end (${((Date.now() - started) / 1000).toFixed(0)} s): ${JSON.stringify(await disk())}`)
  }, 180_000)
})
