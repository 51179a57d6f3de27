import { describe, expect, it } from 'vitest'
import { InvalidManifestError, ManifestTooLargeError } from '../src/errors.js'
import { classifyManifest, isAttestation, parseManifest, platformDescriptors, type Descriptor } from '../src/manifest.js'
import * as mt from '../src/media-types.js'

const d = (n: string): `sha256:${string}` => `sha256:${n.repeat(64)}`
const enc = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))

const manifest = {
  schemaVersion: 2,
  config: { mediaType: mt.OCI_CONFIG, digest: d('1'), size: 10 },
  layers: [{ mediaType: mt.OCI_LAYER_GZIP, digest: d('2'), size: 20 }]
}
const amd64: Descriptor = { mediaType: mt.OCI_MANIFEST, digest: d('3'), size: 30, platform: { os: 'linux', architecture: 'amd64' } }
const arm64: Descriptor = { mediaType: mt.OCI_MANIFEST, digest: d('4'), size: 40, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }
const attestation: Descriptor = {
  mediaType: mt.OCI_MANIFEST, digest: d('5'), size: 50,
  platform: { os: 'unknown', architecture: 'unknown' },
  annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': d('3') }
}
const index = { schemaVersion: 2, manifests: [amd64, arm64, attestation] }

describe('classifyManifest', () => {
  it.each([
    [{ mediaType: mt.OCI_INDEX, manifests: [] }, undefined, 'index', mt.OCI_INDEX],
    [{ mediaType: mt.DOCKER_MANIFEST_LIST, manifests: [] }, undefined, 'index', mt.DOCKER_MANIFEST_LIST],
    [{ mediaType: mt.DOCKER_MANIFEST, config: {} }, undefined, 'manifest', mt.DOCKER_MANIFEST],
    [{ manifests: [] }, mt.OCI_INDEX, 'index', mt.OCI_INDEX],
    [{ config: {} }, `${mt.OCI_MANIFEST}; charset=utf-8`, 'manifest', mt.OCI_MANIFEST],
    [{ manifests: [] }, 'application/json', 'index', mt.OCI_INDEX],
    [{ manifests: [] }, undefined, 'index', mt.OCI_INDEX],
    [{ config: {}, layers: [] }, undefined, 'manifest', mt.OCI_MANIFEST],
    // the body's own mediaType wins over a header
    [{ mediaType: mt.OCI_MANIFEST, config: {} }, mt.OCI_INDEX, 'manifest', mt.OCI_MANIFEST]
  ])('%j with %s → %s', (body, contentType, kind, mediaType) => {
    expect(classifyManifest(body, contentType)).toEqual({ kind, mediaType })
  })

  it('rejects schema 1 and unknown types', () => {
    expect(() => classifyManifest({ schemaVersion: 1 })).toThrow(/schema 1/)
    expect(() => classifyManifest({}, mt.DOCKER_MANIFEST_V1_SIGNED)).toThrow(/schema 1/)
    expect(() => classifyManifest({ mediaType: 'text/plain' })).toThrow(InvalidManifestError)
  })
})

describe('parseManifest', () => {
  it('parses an image manifest and keeps unknown fields', () => {
    const parsed = parseManifest(enc({ ...manifest, extra: true }), mt.OCI_MANIFEST)
    expect(parsed.kind).toBe('manifest')
    if (parsed.kind === 'manifest') {
      expect(parsed.manifest.layers[0]?.digest).toBe(d('2'))
      expect((parsed.manifest as Record<string, unknown>).extra).toBe(true)
    }
  })

  it('parses an index without mediaType anywhere', () => {
    const parsed = parseManifest(enc(index))
    expect(parsed.kind).toBe('index')
    expect(parsed.mediaType).toBe(mt.OCI_INDEX)
  })

  it.each([
    ['not json', new TextEncoder().encode('{nope'), /not valid UTF-8 JSON/],
    ['not an object', enc([1]), /JSON object/],
    ['bad digest', enc({ ...manifest, config: { ...manifest.config, digest: 'sha256:xyz' } }), /sha256/],
    ['negative size', enc({ ...manifest, layers: [{ mediaType: 'x', digest: d('2'), size: -1 }] }), /invalid manifest/],
    ['wrong schemaVersion', enc({ ...manifest, schemaVersion: 3 }), /invalid manifest/],
    ['missing layers', enc({ schemaVersion: 2, config: manifest.config }), /layers/]
  ])('rejects %s', (_name, bytes, message) => {
    expect(() => parseManifest(bytes, mt.OCI_MANIFEST)).toThrow(InvalidManifestError)
    expect(() => parseManifest(bytes, mt.OCI_MANIFEST)).toThrow(message)
  })

  it('rejects manifests over 4 MiB before parsing', () => {
    const big = new Uint8Array(4 * 1024 * 1024 + 1).fill(0x20)
    expect(() => parseManifest(big)).toThrow(ManifestTooLargeError)
  })
})

describe('attestations', () => {
  it('are recognised by annotation or unknown/unknown platform and are not platforms', () => {
    expect(isAttestation(attestation)).toBe(true)
    expect(isAttestation({ ...attestation, annotations: {} })).toBe(true)
    expect(isAttestation({ ...amd64, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } })).toBe(true)
    expect(isAttestation(amd64)).toBe(false)
    const parsed = parseManifest(enc(index))
    if (parsed.kind !== 'index') throw new Error('expected index')
    expect(platformDescriptors(parsed.index).map(x => x.digest)).toEqual([d('3'), d('4')])
  })
})

describe('media types', () => {
  it('Accept lists all four manifest types', () => {
    for (const type of [mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST]) {
      expect(mt.MANIFEST_ACCEPT).toContain(type)
    }
  })
})
