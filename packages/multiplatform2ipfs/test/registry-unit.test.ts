import { describe, expect, it } from 'vitest'
import { catalogRecordSchemas, createCatalog, imageRecordSchema, type ImageRecord } from '../src/catalog.js'
import { memoryKeyValueStore } from '../src/catalog-memory.js'
import { DigestMismatchError, InvalidManifestError, ManifestTooLargeError } from '../src/errors.js'
import { BlobUnknownError, BlockTimeoutError, errorBody, NameInvalidError, ociError, RangeInvalidError } from '../src/registry/errors.js'
import { cidFromName, parseManifestReference, validateName } from '../src/registry/names.js'
import { parseContentRange, parseRange } from '../src/registry/range.js'
import { route } from '../src/registry/router.js'

const CID = 'bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354'
const DIGEST = `sha256:${'a'.repeat(64)}` as const

describe('repository names', () => {
  it('accepts the distribution grammar and CIDs', () => {
    for (const name of ['busybox', 'library/busybox', 'a/b-c/d__e.f', 'x_y', 'a--b', CID]) expect(validateName(name)).toBe(name)
    expect(cidFromName(CID)?.toString()).toBe(CID)
    expect(cidFromName('busybox')).toBeUndefined()
    expect(cidFromName('b' + 'a'.repeat(58))).toBeUndefined()
  })

  it('rejects traversal, upper case, empty components, encodings and overlong names', () => {
    for (const name of ['..', '../etc', 'a/../b', '%2e%2e', 'a/%2E%2E/b', 'Busybox', 'a//b', '/a', 'a/', '-a', 'a.', 'a b', 'a'.repeat(256), '']) {
      expect(() => validateName(name), name).toThrow(NameInvalidError)
    }
  })

  it('parses manifest references as tag or digest', () => {
    expect(parseManifestReference('1.35.0')).toEqual({ tag: '1.35.0' })
    expect(parseManifestReference(DIGEST)).toEqual({ digest: DIGEST })
    expect(() => parseManifestReference('sha256:abc')).toThrow(/sha256/)
    expect(() => parseManifestReference('md5:' + 'a'.repeat(32))).toThrow(/unsupported/)
    expect(() => parseManifestReference('.bad')).toThrow(NameInvalidError)
    expect(() => parseManifestReference('x'.repeat(129))).toThrow(NameInvalidError)
  })

  it('routes the API paths, names with slashes included', () => {
    expect(route('/v2/')).toEqual({ kind: 'base' })
    expect(route('/v2')).toEqual({ kind: 'base' })
    expect(route('/v2/a/b/manifests/latest')).toEqual({ kind: 'manifest', name: 'a/b', reference: 'latest' })
    expect(route(`/v2/a/blobs/${DIGEST}`)).toEqual({ kind: 'blob', name: 'a', digest: DIGEST })
    expect(route('/v2/a/b/blobs/uploads/')).toEqual({ kind: 'upload', name: 'a/b', id: '' })
    expect(route('/v2/a/blobs/uploads/123')).toEqual({ kind: 'upload', name: 'a', id: '123' })
    expect(route('/v2/a/tags/list')).toEqual({ kind: 'tags', name: 'a' })
    expect(route('/v2/a/other')).toBeUndefined()
    expect(route('/v1/a/tags/list')).toBeUndefined()
  })
})

describe('ranges', () => {
  it('parses satisfiable single ranges', () => {
    expect(parseRange(undefined, 10)).toBeUndefined()
    expect(parseRange('bytes=0-4', 10)).toEqual({ start: 0, end: 4 })
    expect(parseRange('bytes=5-', 10)).toEqual({ start: 5, end: 9 })
    expect(parseRange('bytes=8-100', 10)).toEqual({ start: 8, end: 9 })
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 })
    expect(parseRange('bytes=-30', 10)).toEqual({ start: 0, end: 9 })
  })

  it('refuses unsatisfiable, malformed and multi ranges with RANGE_INVALID', () => {
    for (const header of ['bytes=10-', 'bytes=5-2', 'bytes=-0', 'bytes=-', 'items=0-1', 'bytes=0-1,3-4', 'bytes=a-b']) {
      expect(() => parseRange(header, 10), header).toThrow(RangeInvalidError)
    }
  })

  it('parses upload Content-Range', () => {
    expect(parseContentRange('0-99')).toEqual({ start: 0, end: 99 })
    expect(parseContentRange('bytes 100-199/*')).toEqual({ start: 100, end: 199 })
    expect(parseContentRange(undefined)).toBeUndefined()
    expect(() => parseContentRange('9-1')).toThrow(RangeInvalidError)
    expect(() => parseContentRange('x')).toThrow(RangeInvalidError)
  })
})

describe('error table', () => {
  it('maps named errors to OCI codes and statuses', () => {
    expect(ociError(new NameInvalidError('x'))).toEqual({ code: 'NAME_INVALID', status: 400 })
    expect(ociError(new BlobUnknownError('x'))).toEqual({ code: 'BLOB_UNKNOWN', status: 404 })
    expect(ociError(new RangeInvalidError('x'))).toEqual({ code: 'RANGE_INVALID', status: 416 })
    expect(ociError(new DigestMismatchError('x'))).toEqual({ code: 'DIGEST_INVALID', status: 400 })
    expect(ociError(new InvalidManifestError('x'))).toEqual({ code: 'MANIFEST_INVALID', status: 400 })
    expect(ociError(new ManifestTooLargeError('x'))).toEqual({ code: 'MANIFEST_INVALID', status: 413 })
    expect(ociError(new BlockTimeoutError('x'))).toEqual({ code: 'UNAVAILABLE', status: 503 })
    expect(ociError(new TypeError('bug'))).toEqual({ code: 'UNKNOWN', status: 500 })
  })

  it('writes OCI error bodies without leaking internal messages', () => {
    expect(errorBody(new BlobUnknownError('no such blob', { digest: DIGEST }))).toEqual({ errors: [{ code: 'BLOB_UNKNOWN', message: 'no such blob', detail: { digest: DIGEST } }] })
    expect(errorBody(new Error('secret path /x'))).toEqual({ errors: [{ code: 'UNKNOWN', message: 'internal error', detail: null }] })
  })
})

const record = (over: Partial<ImageRecord> = {}): ImageRecord => ({
  name: 'busybox', tag: '1.35.0', cid: CID, digest: DIGEST, mediaType: 'application/vnd.oci.image.index.v1+json',
  platforms: ['linux/amd64'], size: 1234, source: 'docker.io', importedBy: 'local', at: new Date(0).toISOString(), ...over
})

describe('catalog', () => {
  it('records name:tag and cid records and reads them back', async () => {
    const store = memoryKeyValueStore()
    const catalog = createCatalog(store)
    await catalog.record(record())
    expect(await catalog.get('busybox:1.35.0')).toEqual(record())
    expect(await catalog.byCid(CID)).toEqual({ name: 'busybox', tag: '1.35.0' })
    expect(await store.get('image/busybox:1.35.0')).toEqual(record())
    expect(await store.get(`cid/${CID}`)).toEqual({ name: 'busybox', tag: '1.35.0' })
    expect(await catalog.list()).toEqual([record()])
  })

  it('resolves library/ aliases both ways and lists tags per repository', async () => {
    const catalog = createCatalog(memoryKeyValueStore())
    await catalog.record(record())
    await catalog.record(record({ tag: '1.36' }))
    await catalog.record(record({ name: 'busybox-extra', tag: '9' }))
    await catalog.record(record({ name: 'library/alpine', tag: '3' }))
    expect((await catalog.resolve('library/busybox', '1.35.0'))?.tag).toBe('1.35.0')
    expect((await catalog.resolve('busybox', '1.36'))?.tag).toBe('1.36')
    expect((await catalog.resolve('alpine', '3'))?.name).toBe('library/alpine')
    expect(await catalog.resolve('busybox', 'nope')).toBeUndefined()
    expect(await catalog.resolve('x/busybox', '1.36')).toBeUndefined()
    expect(await catalog.tags('library/busybox')).toEqual(['1.35.0', '1.36'])
    expect(await catalog.tags('busybox-extra')).toEqual(['9'])
    expect(await catalog.tags('unknown')).toEqual([])
  })

  it('validates records: bad records are refused locally and read as absent', async () => {
    const store = memoryKeyValueStore()
    const catalog = createCatalog(store)
    await expect(catalog.record(record({ cid: 'not-a-cid' }))).rejects.toThrow()
    await expect(catalog.record(record({ digest: 'sha256:xyz' }))).rejects.toThrow()
    await store.put('image/evil:1', { ...record({ name: 'evil', tag: '1' }), size: -1 })
    expect(await catalog.get('evil:1')).toBeUndefined()
    expect(await catalog.list()).toEqual([])
    const schema = catalogRecordSchemas.find(s => 'image/busybox:1'.startsWith(s.prefix))?.schema
    expect(schema?.safeParse(record()).success).toBe(true)
    expect(imageRecordSchema.safeParse({ ...record(), at: 'yesterday' }).success).toBe(false)
    expect(catalogRecordSchemas.find(s => `cid/${CID}`.startsWith(s.prefix))?.schema.safeParse({ name: 'a', tag: '' }).success).toBe(false)
  })
})
