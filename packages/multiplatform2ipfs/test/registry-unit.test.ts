import { describe, expect, it } from 'vitest'
import { memoryCatalog } from '../src/catalog-memory.js'
import { catalogConformance } from './catalog-conformance.js'
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
    expect(route(`/v2/a/b/referrers/${DIGEST}`)).toEqual({ kind: 'referrers', name: 'a/b', digest: DIGEST })
    // a repository may be named "referrers": the manifest route wins for manifest paths
    expect(route('/v2/a/referrers/manifests/latest')).toEqual({ kind: 'manifest', name: 'a/referrers', reference: 'latest' })
    expect(route('/v2/a/referrers/')).toBeUndefined()
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


catalogConformance('memoryCatalog', async () => ({ catalog: memoryCatalog() }))
