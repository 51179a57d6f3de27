import { MemoryBlockstore } from 'blockstore-core/memory'
import { describe, expect, it } from 'vitest'
import { sha256Digest, type Digest } from '../src/digest.js'
import { BlobNotFoundError } from '../src/errors.js'
import { layoutIndexBytes, writeLayout } from '../src/layout/oci-layout.js'
import { openLayout } from '../src/layout/reader.js'
import { addFile, type StoredFile } from '../src/layout/unixfs.js'
import { OCI_INDEX, OCI_MANIFEST } from '../src/media-types.js'
import { collect, deterministicBytes, toChunks } from './helpers/bytes.js'

async function layoutOf (blobs: Uint8Array[], tag?: string): Promise<{ blockstore: MemoryBlockstore, cid: Awaited<ReturnType<typeof writeLayout>>['cid'], digests: Digest[] }> {
  const blockstore = new MemoryBlockstore()
  const stored = new Map<Digest, StoredFile>()
  for (const bytes of blobs) stored.set(sha256Digest(bytes), await addFile(toChunks(bytes, 10_000), blockstore))
  const [first] = stored.keys()
  const top = { mediaType: OCI_MANIFEST, digest: first ?? sha256Digest(new Uint8Array()), size: blobs[0]?.length ?? 0 }
  const root = await writeLayout({ top, tag, blobs: stored }, blockstore)
  return { blockstore, cid: root.cid, digests: [...stored.keys()] }
}

describe('OCI layout in UnixFS', () => {
  it('writes a deterministic index.json', () => {
    const top = { mediaType: OCI_INDEX, digest: sha256Digest(new Uint8Array([1])), size: 1 }
    expect(new TextDecoder().decode(layoutIndexBytes(top, 'v1'))).toBe(
      `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[{"mediaType":"${OCI_INDEX}","digest":"${top.digest}","size":1,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`
    )
  })

  it('names the same content with the same root CID', async () => {
    const blobs = [new TextEncoder().encode('{"schemaVersion":2}'), deterministicBytes(700_000, 9)]
    const a = await layoutOf(blobs, 'x')
    const b = await layoutOf([...blobs].reverse(), 'x')
    const c = await layoutOf(blobs, 'y')
    expect(a.cid.toString()).toBe((await layoutOf(blobs, 'x')).cid.toString())
    expect(b.cid.toString()).not.toBe(a.cid.toString()) // the top manifest differs
    expect(c.cid.toString()).not.toBe(a.cid.toString()) // the tag annotation differs
  })

  it('reads blobs back whole, by range, and with their content size', async () => {
    const big = deterministicBytes(600_000, 10)
    const { blockstore, cid, digests } = await layoutOf([new TextEncoder().encode('{}'), big])
    const layout = openLayout(cid, blockstore)
    const listed = []
    for await (const blob of layout.blobs()) listed.push(blob)
    expect(listed.map(b => [b.digest, b.size]).sort()).toEqual([[digests[0], 2], [digests[1], 600_000]].sort())
    expect(Buffer.compare(await collect(layout.blob(sha256Digest(big))), big)).toBe(0)
    const range = await collect(layout.blob(sha256Digest(big), { offset: 262_000, length: 1_000 }))
    expect(Buffer.compare(range, big.subarray(262_000, 263_000))).toBe(0)
    expect((await layout.index()).manifests[0]?.digest).toBe(digests[0])
  })

  it('throws BlobNotFoundError for a digest it does not hold', async () => {
    const { blockstore, cid } = await layoutOf([new TextEncoder().encode('{}')])
    const missing = sha256Digest(new TextEncoder().encode('missing'))
    await expect(openLayout(cid, blockstore).stat(missing)).rejects.toThrow(BlobNotFoundError)
    await expect(collect(openLayout(cid, blockstore).blob(missing))).rejects.toThrow(BlobNotFoundError)
  })
})
