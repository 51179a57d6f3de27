import { readdir } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256Digest } from '../src/digest.js'
import { OCI_INDEX, OCI_MANIFEST } from '../src/media-types.js'
import { openLayout } from '../src/layout/reader.js'
import { deterministicBytes } from './helpers/bytes.js'
import { pushBlob, pushManifest, pushMultiPlatformImage, pushSingleImage } from './helpers/images.js'
import { MAX_INDEX_DEPTH, MAX_TAG_PARAMS } from '../src/registry/push.js'
import { memoryCatalog } from '../src/catalog-memory.js'
import { ociCode, startOciRegistry, type RunningOciRegistry } from './helpers/oci-registry.js'

let ours: RunningOciRegistry

beforeAll(async () => {
  ours = await startOciRegistry()
})

afterAll(async () => {
  await ours?.stop()
})

const url = (path: string): string => new URL(path, ours.url).toString()
const blobOf = (bytes: Uint8Array, mediaType = 'application/octet-stream'): { digest: `sha256:${string}`, size: number, mediaType: string, bytes: Uint8Array } =>
  ({ digest: sha256Digest(bytes), size: bytes.length, mediaType, bytes })

async function startUpload (name: string): Promise<string> {
  const res = await fetch(url(`/v2/${name}/blobs/uploads/`), { method: 'POST' })
  expect(res.status).toBe(202)
  expect(res.headers.get('docker-upload-uuid')).toBeTruthy()
  expect(res.headers.get('range')).toBe('0-0')
  return res.headers.get('location') ?? ''
}

async function blobBytes (name: string, digest: string): Promise<Buffer> {
  const res = await fetch(url(`/v2/${name}/blobs/${digest}`))
  expect(res.status).toBe(200)
  return Buffer.from(await res.arrayBuffer())
}

describe('registry push side: uploads', () => {
  it('takes a monolithic upload (POST ?digest= with the body)', async () => {
    const b = blobOf(deterministicBytes(1000, 1))
    const res = await fetch(url(`/v2/up/mono/blobs/uploads/?digest=${b.digest}`), { method: 'POST', body: b.bytes })
    expect(res.status).toBe(201)
    expect(res.headers.get('docker-content-digest')).toBe(b.digest)
    expect(res.headers.get('location')).toBe(`/v2/up/mono/blobs/${b.digest}`)
    expect(Buffer.compare(await blobBytes('up/mono', b.digest), Buffer.from(b.bytes))).toBe(0)
  })

  it('takes chunked uploads with and without Content-Range, a final chunk on PUT, and reports status', async () => {
    const bytes = deterministicBytes(700_000, 2)
    const b = blobOf(bytes)
    const location = await startUpload('up/chunked')
    const first = await fetch(url(location), { method: 'PATCH', body: bytes.subarray(0, 300_000), headers: { 'content-range': '0-299999' } })
    expect(first.status).toBe(202)
    expect(first.headers.get('range')).toBe('0-299999')
    const second = await fetch(url(first.headers.get('location') ?? ''), { method: 'PATCH', body: bytes.subarray(300_000, 600_000) })
    expect(second.headers.get('range')).toBe('0-599999')
    const status = await fetch(url(location))
    expect(status.status).toBe(204)
    expect(status.headers.get('range')).toBe('0-599999')
    const put = await fetch(url(`${location}?digest=${b.digest}`), { method: 'PUT', body: bytes.subarray(600_000) })
    expect(put.status).toBe(201)
    expect(Buffer.compare(await blobBytes('up/chunked', b.digest), Buffer.from(bytes))).toBe(0)
    // blobs of several chunks are balanced UnixFS files; the index knows the size
    expect((await ours.digestIndex.get(b.digest))?.size).toBe(bytes.length)
    expect(await fetch(url(location)).then(r => r.status)).toBe(404)
  })

  it('refuses a non-contiguous chunk with 416 RANGE_INVALID', async () => {
    const location = await startUpload('up/gap')
    await fetch(url(location), { method: 'PATCH', body: new Uint8Array(10), headers: { 'content-range': '0-9' } })
    const res = await fetch(url(location), { method: 'PATCH', body: new Uint8Array(10), headers: { 'content-range': '20-29' } })
    expect(res.status).toBe(416)
    expect(await ociCode(res)).toBe('RANGE_INVALID')
  })

  it('refuses an out-of-order last chunk on PUT with 416 and keeps the session to resume', async () => {
    const bytes = deterministicBytes(3000, 6)
    const b = blobOf(bytes)
    const location = await startUpload('up/order')
    expect(await fetch(url(location), { method: 'PATCH', body: bytes.subarray(0, 1000), headers: { 'content-range': '0-999' } }).then(r => r.status)).toBe(202)
    // the last chunk sent ahead of the middle one: refused before a byte is written
    const ahead = await fetch(url(`${location}?digest=${b.digest}`), { method: 'PUT', body: bytes.subarray(2000), headers: { 'content-range': '2000-2999' } })
    expect(ahead.status).toBe(416)
    expect(await ociCode(ahead)).toBe('RANGE_INVALID')
    const status = await fetch(url(location))
    expect([status.status, status.headers.get('range')]).toEqual([204, '0-999'])
    expect(await fetch(url(location), { method: 'PATCH', body: bytes.subarray(1000, 2000), headers: { 'content-range': '1000-1999' } }).then(r => r.status)).toBe(202)
    const last = await fetch(url(`${location}?digest=${b.digest}`), { method: 'PUT', body: bytes.subarray(2000), headers: { 'content-range': '2000-2999' } })
    expect(last.status).toBe(201)
    expect(Buffer.compare(await blobBytes('up/order', b.digest), Buffer.from(bytes))).toBe(0)
  })

  it('stores nothing when the content does not match the digest (400 DIGEST_INVALID)', async () => {
    const bytes = deterministicBytes(5000, 3)
    const claimed = sha256Digest(deterministicBytes(5000, 4))
    const filesBefore = await readdir(ours.uploadsDir)
    const location = await startUpload('up/bad')
    const res = await fetch(url(`${location}?digest=${claimed}`), { method: 'PUT', body: bytes })
    expect(res.status).toBe(400)
    expect(await ociCode(res)).toBe('DIGEST_INVALID')
    expect(await ours.digestIndex.get(claimed)).toBeUndefined()
    expect(await ours.digestIndex.get(sha256Digest(bytes))).toBeUndefined()
    const mono = await fetch(url(`/v2/up/bad/blobs/uploads/?digest=${claimed}`), { method: 'POST', body: bytes })
    expect(await ociCode(mono)).toBe('DIGEST_INVALID')
    expect(await fetch(url(`/v2/up/bad/blobs/${claimed}`), { method: 'HEAD' }).then(r => r.status)).toBe(404)
    // the session files are gone too
    expect(await readdir(ours.uploadsDir)).toEqual(filesBefore)
  })

  it('cancels uploads, and rejects unknown or foreign sessions and a missing digest', async () => {
    const location = await startUpload('up/cancel')
    expect(await fetch(url(location), { method: 'DELETE' }).then(r => r.status)).toBe(204)
    const gone = await fetch(url(location), { method: 'PATCH', body: new Uint8Array(1) })
    expect(gone.status).toBe(404)
    expect(await ociCode(gone)).toBe('BLOB_UPLOAD_UNKNOWN')
    const other = await startUpload('up/one')
    const foreign = await fetch(url(other.replace('up/one', 'up/two')))
    expect(await ociCode(foreign)).toBe('BLOB_UPLOAD_UNKNOWN')
    const noDigest = await fetch(url(other), { method: 'PUT' })
    expect(noDigest.status).toBe(400)
    expect(await ociCode(noDigest)).toBe('DIGEST_INVALID')
  })

  it('mounts a known blob across repositories (201) and starts an upload for an unknown one (202)', async () => {
    const b = blobOf(deterministicBytes(100, 5))
    await pushBlob(ours.url, 'up/src', b)
    const mounted = await fetch(url(`/v2/up/dst/blobs/uploads/?mount=${b.digest}&from=up/src`), { method: 'POST' })
    expect(mounted.status).toBe(201)
    expect(mounted.headers.get('docker-content-digest')).toBe(b.digest)
    const unknown = await fetch(url(`/v2/up/dst/blobs/uploads/?mount=sha256:${'9'.repeat(64)}&from=up/src`), { method: 'POST' })
    expect(unknown.status).toBe(202)
  })

  it('keeps concurrent sessions apart', async () => {
    const blobs = Array.from({ length: 8 }, (_, i) => blobOf(deterministicBytes(300_000 + i, 100 + i)))
    await Promise.all(blobs.map(async b => {
      const location = await startUpload('up/parallel')
      for (let offset = 0; offset < b.size; offset += 65_536) {
        const chunk = b.bytes.subarray(offset, offset + 65_536)
        const res = await fetch(url(location), { method: 'PATCH', body: chunk, headers: { 'content-range': `${offset}-${offset + chunk.length - 1}` } })
        expect(res.status).toBe(202)
      }
      expect(await fetch(url(`${location}?digest=${b.digest}`), { method: 'PUT' }).then(r => r.status)).toBe(201)
    }))
    for (const b of blobs) expect(sha256Digest(await blobBytes('up/parallel', b.digest))).toBe(b.digest)
  })
})

describe('registry push side: manifests', () => {
  it('takes a multi-platform index pushed after its platform manifests, and records it', async () => {
    const image = await pushMultiPlatformImage(ours.url, 'pushed/multi', '1')
    const rec = await ours.catalog.get('pushed/multi:1')
    expect(rec).toMatchObject({ name: 'pushed/multi', tag: '1', digest: image.digest, mediaType: OCI_INDEX, platforms: ['linux/amd64', 'linux/arm64/v8'], source: 'push', importedBy: 'local' })
    expect(rec?.size).toBe([...image.blobs.values()].reduce((sum, b) => sum + b.size, 0))
    expect(ours.pinned.map(c => c.toString())).toContain(rec?.cid)
    // the layout in IPFS holds every blob byte-for-byte
    const digests: string[] = []
    for await (const b of openLayout(ours.pinned.at(-1)!, ours.blockstore).blobs()) digests.push(b.digest)
    expect(digests.sort()).toEqual([...image.blobs.keys()].sort())
    const res = await fetch(url('/v2/pushed/multi/manifests/1'))
    expect(res.headers.get('docker-content-digest')).toBe(image.digest)
    expect(await fetch(url(`/v2/${rec?.cid ?? ''}/manifests/latest`)).then(r => r.headers.get('docker-content-digest'))).toBe(image.digest)
  })

  it('records a single-platform manifest with the platform from its config; last PUT of a tag wins', async () => {
    const config = blobOf(new TextEncoder().encode(JSON.stringify({ os: 'linux', architecture: 'arm', variant: 'v7', rootfs: { type: 'layers', diff_ids: [] } })), 'application/vnd.oci.image.config.v1+json')
    await pushBlob(ours.url, 'pushed/single', config)
    const manifests = [1, 2].map(n => blobOf(new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: config.mediaType, digest: config.digest, size: config.size }, layers: [], annotations: { n: String(n) } })), OCI_MANIFEST))
    await Promise.all(manifests.map(async m => pushManifest(ours.url, 'pushed/single', 'x', m)))
    const rec = await ours.catalog.resolve('pushed/single', 'x')
    expect(rec?.platforms).toEqual(['linux/arm/v7'])
    expect(manifests.map(m => m.digest)).toContain(rec?.digest)
    await pushManifest(ours.url, 'pushed/single', 'x', manifests[1]!)
    expect((await ours.catalog.resolve('pushed/single', 'x'))?.digest).toBe(manifests[1]!.digest)
    // by digest only: stored and servable, but no catalog record
    const third = blobOf(new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: config.mediaType, digest: config.digest, size: config.size }, layers: [] })), OCI_MANIFEST)
    expect(await pushManifest(ours.url, 'pushed/single', third.digest, third)).toBe(third.digest)
    expect(await fetch(url(`/v2/pushed/single/manifests/${third.digest}`)).then(r => r.status)).toBe(200)
  })

  const put = async (name: string, reference: string, body: Uint8Array, type = OCI_MANIFEST): Promise<Response> =>
    fetch(url(`/v2/${name}/manifests/${reference}`), { method: 'PUT', body, headers: { 'content-type': type } })

  it('refuses manifests that reference blobs never pushed (400 MANIFEST_BLOB_UNKNOWN)', async () => {
    const missing = `sha256:${'7'.repeat(64)}`
    const manifest = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: missing, size: 1 }, layers: [] }))
    const res = await put('bad/manifest', '1', manifest)
    expect(res.status).toBe(400)
    expect(await ociCode(res)).toBe('MANIFEST_BLOB_UNKNOWN')
    const index = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: missing, size: 10 }] }))
    expect(await ociCode(await put('bad/manifest', '1', index, OCI_INDEX))).toBe('MANIFEST_BLOB_UNKNOWN')
    expect(await ours.catalog.get('bad/manifest:1')).toBeUndefined()
  })

  const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
  const desc = (b: { mediaType: string, digest: string, size: number }): Record<string, unknown> => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })

  it('takes layers with urls that were never pushed (non-distributable and foreign layers), but not a missing config or plain layer', async () => {
    const config = blobOf(json({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] } }), 'application/vnd.oci.image.config.v1+json')
    await pushBlob(ours.url, 'pushed/nondist', config)
    const absent = { digest: `sha256:${'5'.repeat(64)}`, size: 123456 }
    const urls = [`https://store.example.com/blobs/${absent.digest}`]
    const manifest = (layer: Record<string, unknown>): Uint8Array => json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(config), layers: [layer] })
    for (const mediaType of ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip']) {
      const m = blobOf(manifest({ mediaType, ...absent, urls }), OCI_MANIFEST)
      expect(await pushManifest(ours.url, 'pushed/nondist', mediaType.includes('oci') ? 'oci' : 'docker', m)).toBe(m.digest)
      expect(await fetch(url(`/v2/pushed/nondist/manifests/${m.digest}`)).then(r => r.status)).toBe(200)
    }
    // never served: clients fetch it from its urls
    expect(await fetch(url(`/v2/pushed/nondist/blobs/${absent.digest}`)).then(r => r.status)).toBe(404)
    const plain = await put('pushed/nondist', 'plain', manifest({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...absent }))
    expect([plain.status, await ociCode(plain)]).toEqual([400, 'MANIFEST_BLOB_UNKNOWN'])
    const noConfig = await put('pushed/nondist', 'noconfig', json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...desc(config), digest: absent.digest, urls }, layers: [] }))
    expect([noConfig.status, await ociCode(noConfig)]).toEqual([400, 'MANIFEST_BLOB_UNKNOWN'])
  })

  it('takes an index of indexes, records the platforms of all of them, and serves each level', async () => {
    const a = await pushMultiPlatformImage(ours.url, 'pushed/nested', 'a')
    const b = await pushSingleImage(ours.url, 'pushed/nested', 'b', 'linux/s390x')
    const inner = blobOf(json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...desc(b.manifests[0]!), platform: { os: 'linux', architecture: 's390x' } }] }), OCI_INDEX)
    await pushManifest(ours.url, 'pushed/nested', inner.digest, inner)
    const top = blobOf(json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [desc(a), desc(inner)] }), OCI_INDEX)
    expect(await pushManifest(ours.url, 'pushed/nested', 'top', top)).toBe(top.digest)
    const rec = await ours.catalog.resolve('pushed/nested', 'top')
    expect(rec?.platforms).toEqual(['linux/amd64', 'linux/arm64/v8', 'linux/s390x'])
    // the layout holds every level, so the mesh can serve all of it by name
    const digests: string[] = []
    for await (const blob of openLayout(ours.pinned.at(-1)!, ours.blockstore).blobs()) digests.push(blob.digest)
    expect(digests).toEqual(expect.arrayContaining([top.digest, a.digest, inner.digest, ...b.blobs.keys()]))
    for (const m of [top, a, inner]) expect(await fetch(url(`/v2/pushed/nested/manifests/${m.digest}`)).then(r => r.headers.get('content-type'))).toBe(OCI_INDEX)
  })

  it('refuses an index nested deeper than the limit', async () => {
    const leaf = await pushSingleImage(ours.url, 'pushed/deep', 'leaf')
    let child: { mediaType: string, digest: string, size: number } = leaf
    for (let level = 1; level <= MAX_INDEX_DEPTH; level++) {
      const index = blobOf(json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [desc(child)] }), OCI_INDEX)
      expect(await pushManifest(ours.url, 'pushed/deep', index.digest, index)).toBe(index.digest)
      child = index
    }
    const tooDeep = await put('pushed/deep', 'x', json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [desc(child)] }), OCI_INDEX)
    expect([tooDeep.status, await ociCode(tooDeep)]).toEqual([400, 'MANIFEST_INVALID'])
  })

  it('records the tags of a push by digest with ?tag= and names them in OCI-Tag', async () => {
    const image = await pushSingleImage(ours.url, 'pushed/tagparam', 'first')
    const res = await fetch(url(`/v2/pushed/tagparam/manifests/${image.digest}?tag=a&tag=b&tag=a`), { method: 'PUT', body: image.bytes, headers: { 'content-type': image.mediaType } })
    expect(res.status).toBe(201)
    expect(res.headers.get('oci-tag')).toBe('a, b')
    for (const tag of ['a', 'b']) {
      expect((await ours.catalog.resolve('pushed/tagparam', tag))?.digest).toBe(image.digest)
      expect(await fetch(url(`/v2/pushed/tagparam/manifests/${tag}`)).then(r => r.headers.get('docker-content-digest'))).toBe(image.digest)
    }
    // by digest alone: no OCI-Tag
    expect(await fetch(url(`/v2/pushed/tagparam/manifests/${image.digest}`), { method: 'PUT', body: image.bytes, headers: { 'content-type': image.mediaType } }).then(r => r.headers.get('oci-tag'))).toBeNull()
    const badTag = await fetch(url(`/v2/pushed/tagparam/manifests/${image.digest}?tag=-bad`), { method: 'PUT', body: image.bytes, headers: { 'content-type': image.mediaType } })
    expect([badTag.status, await ociCode(badTag)]).toEqual([400, 'NAME_INVALID'])
    const many = new URLSearchParams(Array.from({ length: MAX_TAG_PARAMS + 1 }, (_, i): [string, string] => ['tag', `t${i}`])).toString()
    const tooMany = await fetch(url(`/v2/pushed/tagparam/manifests/${image.digest}?${many}`), { method: 'PUT', body: image.bytes, headers: { 'content-type': image.mediaType } })
    expect([tooMany.status, await ociCode(tooMany)]).toEqual([400, 'NAME_INVALID'])
    expect(await ours.catalog.resolve('pushed/tagparam', 't0')).toBeUndefined()
  })

  it('refuses tag parameters on a node that may not record names, as it refuses a push by tag', async () => {
    const denying = await startOciRegistry({ catalog: memoryCatalog({ denies: 'not a writer' }) })
    try {
      const config = blobOf(json({ os: 'linux', architecture: 'amd64' }), 'application/vnd.oci.image.config.v1+json')
      await pushBlob(denying.url, 'pushed/denied', config)
      const m = blobOf(json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(config), layers: [] }), OCI_MANIFEST)
      const res = await fetch(new URL(`/v2/pushed/denied/manifests/${m.digest}?tag=x`, denying.url), { method: 'PUT', body: m.bytes, headers: { 'content-type': OCI_MANIFEST } })
      expect([res.status, await ociCode(res)]).toEqual([403, 'DENIED'])
      // by digest alone it is stored
      expect(await pushManifest(denying.url, 'pushed/denied', m.digest, m)).toBe(m.digest)
    } finally {
      await denying.stop()
    }
  })

  it('refuses invalid, oversized and digest-mismatched manifests with 4xx codes', async () => {
    const notJson = await put('bad/manifest', '1', new TextEncoder().encode('{nope'))
    expect([notJson.status, await ociCode(notJson)]).toEqual([400, 'MANIFEST_INVALID'])
    const schema1 = await put('bad/manifest', '1', new TextEncoder().encode('{"schemaVersion":1}'))
    expect([schema1.status, await ociCode(schema1)]).toEqual([400, 'MANIFEST_INVALID'])
    const huge = await put('bad/manifest', '1', new Uint8Array(4 * 1024 * 1024 + 1).fill(32))
    expect([huge.status, await ociCode(huge)]).toEqual([413, 'MANIFEST_INVALID'])
    const body = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }))
    const wrong = await put('bad/manifest', `sha256:${'1'.repeat(64)}`, body, OCI_INDEX)
    expect([wrong.status, await ociCode(wrong)]).toEqual([400, 'DIGEST_INVALID'])
    const badName = await put('Bad/Name', '1', body, OCI_INDEX)
    expect([badName.status, await ociCode(badName)]).toEqual([400, 'NAME_INVALID'])
  })
})
