import { readFile, writeFile } from 'node:fs/promises'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DigestMismatchError, SizeMismatchError } from '../src/errors.js'
import { importImage } from '../src/importer.js'
import { memoryDigestIndex } from '../src/layout/digest-index.js'
import { createRegistryClient } from '../src/upstream/client.js'
import { pushMultiPlatformImage, type PushedImage } from './helpers/images.js'
import { startRegistry, type RunningRegistry } from './helpers/registry.js'

let registry: RunningRegistry
let image: PushedImage

beforeAll(async () => {
  registry = await startRegistry()
  image = await pushMultiPlatformImage(registry.url, 'test/tampered', '1', { seed: 42 })
})

afterAll(async () => {
  await registry?.stop()
})

async function flipByte (path: string, at: number): Promise<void> {
  const bytes = await readFile(path)
  bytes[at] = (bytes[at] ?? 0) ^ 0xff
  await writeFile(path, bytes)
}

describe('corrupted upstream', () => {
  it('fails with DigestMismatchError on a corrupted layer and records nothing', async () => {
    const big = [...image.blobs.values()].find(b => b.size > 4 * 1024 * 1024)
    if (big === undefined) throw new Error('no big layer')
    const path = registry.blobDataPath(big.digest)
    await flipByte(path, 1_000_000)
    const digestIndex = memoryDigestIndex()
    const put: string[] = []
    const spy = { ...digestIndex, get: digestIndex.get.bind(digestIndex), delete: digestIndex.delete.bind(digestIndex), put: async (...args: Parameters<typeof digestIndex.put>) => { put.push(args[0]); await digestIndex.put(...args) } }
    try {
      const result = importImage(`${registry.host}/test/tampered:1`, { client: createRegistryClient(), blockstore: new MemoryBlockstore(), digestIndex: spy })
      await expect(result).rejects.toThrow(DigestMismatchError)
      expect(put).not.toContain(big.digest)
      expect(await digestIndex.get(big.digest)).toBeUndefined()
      // the arm64-only import does not touch the corrupted layer, so it still works
      const arm = await importImage(`${registry.host}/test/tampered:1`, { client: createRegistryClient(), blockstore: new MemoryBlockstore(), digestIndex: memoryDigestIndex(), platforms: ['linux/arm64'] })
      expect(arm.platforms).toEqual(['linux/arm64/v8'])
    } finally {
      await flipByte(path, 1_000_000)
    }
  })

  it('fails with DigestMismatchError on a corrupted child manifest', async () => {
    const arm = image.manifests.find(m => m.platform === 'linux/arm64/v8')
    if (arm === undefined) throw new Error('no arm64 manifest')
    const path = registry.blobDataPath(arm.digest)
    const original = await readFile(path)
    // same length, still valid JSON (one hex digit of the config digest changed): only the digest check can catch it
    const text = original.toString()
    const at = text.indexOf('sha256:') + 'sha256:'.length
    await writeFile(path, text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1))
    try {
      await expect(importImage(`${registry.host}/test/tampered:1`, { client: createRegistryClient(), blockstore: new MemoryBlockstore(), digestIndex: memoryDigestIndex(), platforms: ['linux/arm64'] }))
        .rejects.toThrow(DigestMismatchError)
    } finally {
      await writeFile(path, original)
    }
  })

  it('fails with SizeMismatchError when the stored blob is truncated', async () => {
    const arm = image.manifests.find(m => m.platform === 'linux/arm64/v8')
    const layer = arm?.layers[0]
    if (layer === undefined) throw new Error('no arm64 layer')
    const path = registry.blobDataPath(layer.digest)
    const original = await readFile(path)
    await writeFile(path, original.subarray(0, original.length - 10))
    try {
      await expect(importImage(`${registry.host}/test/tampered:1`, { client: createRegistryClient(), blockstore: new MemoryBlockstore(), digestIndex: memoryDigestIndex(), platforms: ['linux/arm64'] }))
        .rejects.toThrow(SizeMismatchError)
    } finally {
      await writeFile(path, original)
    }
  })
})
