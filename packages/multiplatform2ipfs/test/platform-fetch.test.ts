import { createHash } from 'node:crypto'
import { MemoryBlockstore } from 'blockstore-core/memory'
import type { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { addFile, type StoredFile } from '../src/layout/unixfs.js'
import { writeLayout } from '../src/layout/oci-layout.js'
import { fetchPlatform } from '../src/layout/platform-fetch.js'
import { digestToRawCid } from '../src/layout/cid.js'
import type { Digest } from '../src/digest.js'

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
const digest = (b: Uint8Array): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest

/** index → amd64, arm64/v8 and an attestation for amd64, each manifest with a config and a layer */
async function image (blockstore: MemoryBlockstore): Promise<{ root: CID, layers: Record<string, Digest> }> {
  const blobs = new Map<Digest, StoredFile>()
  const put = async (bytes: Uint8Array): Promise<{ digest: Digest, size: number }> => {
    blobs.set(digest(bytes), await addFile(bytes, blockstore))
    return { digest: digest(bytes), size: bytes.length }
  }
  const manifests = []
  const layers: Record<string, Digest> = {}
  for (const [arch, variant] of [['amd64', undefined], ['arm64', 'v8']] as const) {
    const layer = await put(new Uint8Array(100_000).fill(arch.length + (variant?.length ?? 0)))
    layers[arch] = layer.digest
    const config = await put(json({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }))
    const manifest = await put(json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }] }))
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, platform: { os: 'linux', architecture: arch, ...(variant != null ? { variant } : {}) } })
  }
  const index = await put(json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }))
  const root = await writeLayout({ top: { mediaType: 'application/vnd.oci.image.index.v1+json', ...index }, tag: '1', blobs }, blockstore)
  return { root: root.cid, layers }
}

describe('fetchPlatform', () => {
  it('fetches the top index, this platform\'s manifest, config and layer, and nothing of the other platform', async () => {
    const blockstore = new MemoryBlockstore()
    const { root, layers } = await image(blockstore)
    const asked: string[] = []
    let readable = 0
    const fetched = await fetchPlatform(root, {
      blockstore,
      fetch: async (blobs, options) => {
        asked.push(...blobs.map(String))
        options.onStarted?.()
        options.onProgress?.(1)
        return { overBitswap: 0 }
      }
    }, { platform: 'linux/arm64', onReadable: () => { readable++ } })
    expect(readable).toBe(1)
    expect(fetched.blobs).toHaveLength(4)
    expect(asked).toContain(digestToRawCid(layers.arm64!).toString())
    expect(asked).not.toContain(digestToRawCid(layers.amd64!).toString())
    // directories and small files pinned alone, blobs whole
    expect(fetched.pins.filter(p => p.depth === 0)).toHaveLength(5)
    expect(fetched.pins.filter(p => p.depth == null).map(p => p.cid.toString())).toEqual(asked)
    expect(fetched.bytes).toBe(fetched.blobs.reduce((sum, b) => sum + b.size, 0))
  })

  it('follows the importer\'s rule: a platform without a variant takes any variant; one the image lacks is PlatformNotFoundError', async () => {
    const blockstore = new MemoryBlockstore()
    const { root } = await image(blockstore)
    const fetch = async (): Promise<{ overBitswap: number }> => ({ overBitswap: 0 })
    expect((await fetchPlatform(root, { blockstore, fetch }, { platform: 'linux/arm64/v8' })).blobs).toHaveLength(4)
    expect((await fetchPlatform(root, { blockstore, fetch }, { platform: 'linux/aarch64' })).blobs).toHaveLength(4)
    await expect(fetchPlatform(root, { blockstore, fetch }, { platform: 'linux/s390x' })).rejects.toMatchObject({ name: 'PlatformNotFoundError', message: expect.stringMatching(/no manifest for linux\/s390x/) })
  })
})
