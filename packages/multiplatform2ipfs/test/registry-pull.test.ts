import { MemoryBlockstore } from 'blockstore-core/memory'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryCatalog } from '../src/catalog-memory.js'
import { sha256Digest } from '../src/digest.js'
import { importImage, type ImportedImage } from '../src/importer.js'
import { memoryDigestIndex } from '../src/layout/digest-index.js'
import { OCI_INDEX, DOCKER_MANIFEST } from '../src/media-types.js'
import { createRegistryClient } from '../src/upstream/client.js'
import { pushMultiPlatformImage, pushSingleImage, type PushedImage } from './helpers/images.js'
import { ociCode, rawRequest, startOciRegistry, type RunningOciRegistry } from './helpers/oci-registry.js'
import { startRegistry, type RunningRegistry } from './helpers/registry.js'

let upstream: RunningRegistry
let ours: RunningOciRegistry
let multi: PushedImage
let single: PushedImage
let multiImage: ImportedImage
const blockstore = new MemoryBlockstore()
const digestIndex = memoryDigestIndex()
const catalog = memoryCatalog()

beforeAll(async () => {
  upstream = await startRegistry()
  multi = await pushMultiPlatformImage(upstream.url, 'test/multi', '1')
  single = await pushSingleImage(upstream.url, 'test/single', '2')
  const components = { client: createRegistryClient(), blockstore, digestIndex }
  multiImage = await importImage(`${upstream.host}/test/multi:1`, components)
  const singleImage = await importImage(`${upstream.host}/test/single:2`, components)
  const at = new Date().toISOString()
  for (const [image, name, tag] of [[multiImage, 'busybox', '1.35.0'], [singleImage, 'test/single', '2']] as const) {
    await catalog.record({
      name, tag, cid: image.cid.toString(), digest: image.digest, mediaType: image.mediaType,
      platforms: image.platforms, size: image.size, source: upstream.host, importedBy: 'local', at
    })
  }
  for (const tag of ['a', 'b', 'c', 'd', 'e']) {
    await catalog.record({ ...(await catalog.get('test/single:2'))!, tag })
  }
  ours = await startOciRegistry({ blockstore, digestIndex, catalog })
})

afterAll(async () => {
  await ours?.stop()
  await upstream?.stop()
})

const get = async (path: string, init: RequestInit = {}): Promise<Response> => fetch(`${ours.url}${path}`, init)

describe('registry pull side', () => {
  it('answers GET /v2/ with the API version header', async () => {
    const res = await get('/v2/')
    expect(res.status).toBe(200)
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0')
    expect(await res.json()).toEqual({})
  })

  it('serves the top manifest by CID name and any tag, HEAD with the true length', async () => {
    for (const path of [`/v2/${multiImage.cid.toString()}/manifests/latest`, '/v2/busybox/manifests/1.35.0', '/v2/library/busybox/manifests/1.35.0']) {
      const head = await get(path, { method: 'HEAD' })
      expect(head.status, path).toBe(200)
      expect(head.headers.get('content-length')).toBe(String(multi.size))
      expect(head.headers.get('docker-content-digest')).toBe(multi.digest)
      expect(head.headers.get('content-type')).toBe(OCI_INDEX)
      // Accept without index types: still the stored index (Docker always sends them anyway)
      const res = await get(path, { headers: { accept: DOCKER_MANIFEST } })
      const bytes = Buffer.from(await res.arrayBuffer())
      expect(Buffer.compare(bytes, Buffer.from(multi.bytes))).toBe(0)
      expect(res.headers.get('content-length')).toBe(String(bytes.byteLength))
    }
  })

  it('serves child manifests by digest with their media type, and Docker types as stored', async () => {
    const child = multi.manifests[1]!
    const res = await get(`/v2/busybox/manifests/${child.digest}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(child.mediaType)
    expect(sha256Digest(Buffer.from(await res.arrayBuffer()))).toBe(child.digest)
    const docker = await get('/v2/test/single/manifests/2')
    expect(docker.headers.get('content-type')).toBe(DOCKER_MANIFEST)
    expect(docker.headers.get('docker-content-digest')).toBe(single.digest)
  })

  it('streams blobs whole and by range, by CID name and by catalog name', async () => {
    const big = multi.manifests[0]!.layers[1]!
    for (const name of [multiImage.cid.toString(), 'busybox']) {
      const whole = await get(`/v2/${name}/blobs/${big.digest}`)
      expect(whole.status).toBe(200)
      expect(whole.headers.get('content-length')).toBe(String(big.size))
      expect(sha256Digest(Buffer.from(await whole.arrayBuffer()))).toBe(big.digest)
    }
    const start = 262_000
    const end = 262_144 * 3 + 17
    const part = await get(`/v2/busybox/blobs/${big.digest}`, { headers: { range: `bytes=${start}-${end}` } })
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe(`bytes ${start}-${end}/${big.size}`)
    expect(Buffer.compare(Buffer.from(await part.arrayBuffer()), Buffer.from(big.bytes.subarray(start, end + 1)))).toBe(0)
    const head = await get(`/v2/busybox/blobs/${big.digest}`, { method: 'HEAD' })
    expect(head.headers.get('content-length')).toBe(String(big.size))
    const bad = await get(`/v2/busybox/blobs/${big.digest}`, { headers: { range: `bytes=${big.size}-` } })
    expect(bad.status).toBe(416)
    expect(await ociCode(bad)).toBe('RANGE_INVALID')
  })

  it('finds a blob through a layout alone when the digest index does not have it', async () => {
    const alone = await startOciRegistry({ blockstore, catalog })
    try {
      const layer = multi.manifests[1]!.layers[0]!
      const res = await fetch(`${alone.url}/v2/busybox/blobs/${layer.digest}`)
      expect(sha256Digest(Buffer.from(await res.arrayBuffer()))).toBe(layer.digest)
      const byCid = await fetch(`${alone.url}/v2/${multiImage.cid.toString()}/manifests/${multi.manifests[0]!.digest}`)
      expect(byCid.status).toBe(200)
      const missing = await fetch(`${alone.url}/v2/test/single/blobs/${layer.digest}`)
      expect(await ociCode(missing)).toBe('BLOB_UNKNOWN')
    } finally {
      await alone.stop()
    }
  })

  it('lists tags with n/last pagination and a Link header', async () => {
    const all = await (await get('/v2/test/single/tags/list')).json()
    expect(all).toEqual({ name: 'test/single', tags: ['2', 'a', 'b', 'c', 'd', 'e'] })
    const tags = async (res: Response): Promise<string[]> => ((await res.json()) as { tags: string[] }).tags
    const first = await get('/v2/test/single/tags/list?n=2')
    expect(await tags(first)).toEqual(['2', 'a'])
    expect(first.headers.get('link')).toBe('</v2/test/single/tags/list?n=2&last=a>; rel="next"')
    const next = await get('/v2/test/single/tags/list?n=2&last=a')
    expect(await tags(next)).toEqual(['b', 'c'])
    const lastPage = await get('/v2/test/single/tags/list?n=2&last=c')
    expect(await tags(lastPage)).toEqual(['d', 'e'])
    expect(lastPage.headers.get('link')).toBeNull()
    expect(await (await get(`/v2/${multiImage.cid.toString()}/tags/list`)).json()).toEqual({ name: multiImage.cid.toString(), tags: ['1'] })
  })
})

describe('registry pull side: bad input', () => {
  const DIGEST = `sha256:${'0'.repeat(64)}`
  const cases: Array<[string, string, number, string]> = [
    ['unknown name', '/v2/nobody/manifests/latest', 404, 'NAME_UNKNOWN'],
    ['unknown tag', '/v2/busybox/manifests/9.9', 404, 'MANIFEST_UNKNOWN'],
    ['unknown manifest digest', `/v2/busybox/manifests/${DIGEST}`, 404, 'MANIFEST_UNKNOWN'],
    ['unknown blob', `/v2/busybox/blobs/${DIGEST}`, 404, 'BLOB_UNKNOWN'],
    ['bad digest', '/v2/busybox/blobs/sha256:1234', 400, 'DIGEST_INVALID'],
    ['unsupported algorithm', `/v2/busybox/blobs/sha512:${'a'.repeat(128)}`, 400, 'DIGEST_INVALID'],
    ['upper case', '/v2/BusyBox/manifests/latest', 400, 'NAME_INVALID'],
    ['bad tag', '/v2/busybox/manifests/-x', 400, 'NAME_INVALID'],
    ['unknown repo tags', '/v2/nobody/tags/list', 404, 'NAME_UNKNOWN'],
    ['not an API path', '/v2/busybox/other', 405, 'UNSUPPORTED']
  ]
  for (const [what, path, status, code] of cases) {
    it(`${what} → ${status} ${code}`, async () => {
      const res = await get(path)
      expect(res.status).toBe(status)
      expect(await ociCode(res)).toBe(code)
    })
  }

  it('refuses methods the API does not have with 405 UNSUPPORTED', async () => {
    // deletion (content management) is not offered: 405 by tag and by any digest, even one we cannot parse
    for (const [method, path] of [['DELETE', `/v2/busybox/blobs/${DIGEST}`], ['PATCH', '/v2/busybox/manifests/1.35.0'], ['GET', '/v2/busybox/blobs/uploads/'], ['POST', '/v2/busybox/tags/list'],
      ['DELETE', '/v2/busybox/manifests/1.35.0'], ['DELETE', `/v2/busybox/manifests/${DIGEST}`], ['DELETE', `/v2/busybox/manifests/sha512:${'ab'.repeat(64)}`]] as const) {
      const res = await get(path, { method })
      expect(res.status, `${method} ${path}`).toBe(405)
      expect(await ociCode(res)).toBe('UNSUPPORTED')
    }
  })

  it('refuses path traversal and encoded dots sent raw, and overlong names', async () => {
    for (const path of ['/v2/../../etc/manifests/latest', '/v2/a/../b/manifests/latest', '/v2/%2e%2e/manifests/latest', '/v2/a/%2E%2E/blobs/' + DIGEST,
      `/v2/${'a'.repeat(300)}/manifests/latest`, `/v2/${'a/'.repeat(600)}x/manifests/latest`]) {
      const res = await rawRequest(ours.url, 'GET', path)
      expect(res.status, path).toBe(400)
      expect(JSON.parse(res.body.toString()).errors[0].code).toBe('NAME_INVALID')
    }
  })

  it('a layer asked for as a manifest → 404 MANIFEST_UNKNOWN', async () => {
    const res = await get(`/v2/busybox/manifests/${multi.manifests[0]!.layers[1]!.digest}`)
    expect(res.status).toBe(404)
    expect(await ociCode(res)).toBe('MANIFEST_UNKNOWN')
  })

  it('a CID that names no layout is MANIFEST_UNKNOWN, not a crash', async () => {
    const layerCid = (await digestIndex.get(multi.manifests[0]!.layers[0]!.digest))!.cid.toString()
    const res = await get(`/v2/${layerCid}/manifests/latest`)
    expect(res.status).toBe(404)
    expect(await ociCode(res)).toBe('MANIFEST_UNKNOWN')
  })
})
