import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { MemoryDatastore } from 'datastore-core/memory'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256Digest, type Digest } from '../src/digest.js'
import { OCI_INDEX, OCI_MANIFEST } from '../src/media-types.js'
import { REFERRERS_PAGE } from '../src/registry/referrers.js'
import { datastoreReferrersIndex, memoryReferrersIndex, type ReferrersIndex } from '../src/registry/referrers-index.js'
import { createRegistry } from '../src/registry/server.js'
import { memoryCatalog } from '../src/catalog-memory.js'
import { memoryDigestIndex } from '../src/layout/digest-index.js'
import { pushBlob, pushManifest, pushSingleImage, type Blob } from './helpers/images.js'
import { ociCode, startOciRegistry, type RunningOciRegistry } from './helpers/oci-registry.js'

let ours: RunningOciRegistry

beforeAll(async () => {
  ours = await startOciRegistry()
})

afterAll(async () => {
  await ours?.stop()
})

const url = (path: string): string => new URL(path, ours.url).toString()
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
const blobOf = (bytes: Uint8Array, mediaType: string): Blob => ({ digest: sha256Digest(bytes), size: bytes.length, mediaType, bytes })
const desc = (b: Blob): { mediaType: string, digest: Digest, size: number } => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })
const EMPTY_CONFIG = blobOf(json({}), 'application/vnd.oci.empty.v1+json')

interface ReferrersList { schemaVersion: number, mediaType: string, manifests: Array<Record<string, unknown>> }

async function referrers (name: string, subject: string, query = ''): Promise<{ status: number, type: string | null, filters: string | null, body: ReferrersList }> {
  const res = await fetch(url(`/v2/${name}/referrers/${subject}${query}`))
  return { status: res.status, type: res.headers.get('content-type'), filters: res.headers.get('oci-filters-applied'), body: await res.json() as ReferrersList }
}

/** An artifact manifest (empty config, one layer) naming `subject`. */
async function pushArtifact (name: string, subject: Blob, artifactType: string | undefined, annotations: Record<string, string>, reference?: string): Promise<{ blob: Blob, subjectHeader: string | null }> {
  await pushBlob(ours.url, name, EMPTY_CONFIG)
  const layer = blobOf(json(annotations), 'application/vnd.example.signature')
  await pushBlob(ours.url, name, layer)
  const blob = blobOf(json({
    schemaVersion: 2, mediaType: OCI_MANIFEST, ...(artifactType !== undefined ? { artifactType } : {}),
    config: desc(EMPTY_CONFIG), layers: [desc(layer)], subject: desc(subject), annotations
  }), OCI_MANIFEST)
  const res = await fetch(url(`/v2/${name}/manifests/${reference ?? blob.digest}`), { method: 'PUT', body: blob.bytes, headers: { 'content-type': OCI_MANIFEST } })
  expect(res.status).toBe(201)
  return { blob, subjectHeader: res.headers.get('oci-subject') }
}

describe('referrers API', () => {
  it('answers an empty OCI index for a subject nothing refers to', async () => {
    const r = await referrers('ref/none', `sha256:${'4'.repeat(64)}`)
    expect([r.status, r.type, r.filters]).toEqual([200, OCI_INDEX, null])
    expect(r.body).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] })
  })

  it('lists referrers pushed by digest and by tag with their artifact type and annotations; OCI-Subject on the push', async () => {
    const image = await pushSingleImage(ours.url, 'ref/app', '1')
    const sig = await pushArtifact('ref/app', image, 'application/vnd.example.sig', { 'org.example.kind': 'signature' })
    expect(sig.subjectHeader).toBe(image.digest)
    const sbom = await pushArtifact('ref/app', image, undefined, { 'org.example.kind': 'sbom' }, 'sbom')
    expect(sbom.subjectHeader).toBe(image.digest)
    // pushing the same referrer again lists it once
    await pushArtifact('ref/app', image, 'application/vnd.example.sig', { 'org.example.kind': 'signature' })

    const all = await referrers('ref/app', image.digest)
    expect([all.status, all.type]).toEqual([200, OCI_INDEX])
    expect(all.body.manifests).toHaveLength(2)
    expect(all.body.manifests).toEqual(expect.arrayContaining([
      { ...desc(sig.blob), artifactType: 'application/vnd.example.sig', annotations: { 'org.example.kind': 'signature' } },
      // no artifactType: the config's media type stands for it
      { ...desc(sbom.blob), artifactType: EMPTY_CONFIG.mediaType, annotations: { 'org.example.kind': 'sbom' } }
    ]))

    const filtered = await referrers('ref/app', image.digest, '?artifactType=application%2Fvnd.example.sig')
    expect(filtered.filters).toBe('artifactType')
    expect(filtered.body.manifests.map(m => m.digest)).toEqual([sig.blob.digest])
    // repository-scoped: another repository has no referrers for the same subject
    expect((await referrers('ref/other', image.digest)).body.manifests).toEqual([])
  })

  it('indexes a referrer pushed before its subject, and an index with a subject', async () => {
    const subject = blobOf(json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(EMPTY_CONFIG), layers: [] }), OCI_MANIFEST)
    const early = await pushArtifact('ref/early', subject, 'application/vnd.example.early', {})
    expect(early.subjectHeader).toBe(subject.digest)
    const index = blobOf(json({ schemaVersion: 2, mediaType: OCI_INDEX, artifactType: 'application/vnd.example.bundle', manifests: [desc(early.blob)], subject: desc(subject) }), OCI_INDEX)
    const res = await fetch(url(`/v2/ref/early/manifests/${index.digest}`), { method: 'PUT', body: index.bytes, headers: { 'content-type': OCI_INDEX } })
    expect([res.status, res.headers.get('oci-subject')]).toEqual([201, subject.digest])
    await pushBlob(ours.url, 'ref/early', EMPTY_CONFIG)
    await pushManifest(ours.url, 'ref/early', 'subject', subject)
    const list = await referrers('ref/early', subject.digest)
    expect(list.body.manifests).toEqual(expect.arrayContaining([
      { ...desc(early.blob), artifactType: 'application/vnd.example.early' },
      { ...desc(index), artifactType: 'application/vnd.example.bundle' }
    ]))
  })

  it('answers a manifest without a subject with no OCI-Subject header', async () => {
    await pushBlob(ours.url, 'ref/plain', EMPTY_CONFIG)
    const plain = blobOf(json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(EMPTY_CONFIG), layers: [] }), OCI_MANIFEST)
    const res = await fetch(url(`/v2/ref/plain/manifests/${plain.digest}`), { method: 'PUT', body: plain.bytes, headers: { 'content-type': OCI_MANIFEST } })
    expect([res.status, res.headers.get('oci-subject')]).toEqual([201, null])
  })

  it('refuses a manifest or index whose subject is malformed (400 MANIFEST_INVALID)', async () => {
    await pushBlob(ours.url, 'ref/bad', EMPTY_CONFIG)
    for (const [type, body] of [
      [OCI_MANIFEST, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(EMPTY_CONFIG), layers: [], subject: { mediaType: OCI_MANIFEST, digest: 'sha256:short', size: 1 } }],
      [OCI_INDEX, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], subject: { digest: `sha256:${'4'.repeat(64)}` } }]
    ] as const) {
      const res = await fetch(url('/v2/ref/bad/manifests/x'), { method: 'PUT', body: json(body), headers: { 'content-type': type } })
      expect([res.status, await ociCode(res)]).toEqual([400, 'MANIFEST_INVALID'])
    }
  })

  it('refuses a malformed subject digest and other methods', async () => {
    const bad = await fetch(url('/v2/ref/app/referrers/sha256:nothex'))
    expect([bad.status, await ociCode(bad)]).toEqual([400, 'DIGEST_INVALID'])
    const post = await fetch(url(`/v2/ref/app/referrers/sha256:${'4'.repeat(64)}`), { method: 'POST' })
    expect([post.status, await ociCode(post)]).toEqual([405, 'UNSUPPORTED'])
    const badName = await fetch(url(`/v2/Ref/App/referrers/sha256:${'4'.repeat(64)}`))
    expect([badName.status, await ociCode(badName)]).toEqual([400, 'NAME_INVALID'])
  })
})

describe('referrers pages', () => {
  it('answers in digest order, REFERRERS_PAGE at a time, with a Link to the next page (filters kept)', async () => {
    const index = memoryReferrersIndex()
    const subject = sha256Digest(json('paged subject'))
    const count = REFERRERS_PAGE + 5
    for (let i = 0; i < count; i++) {
      await index.add('ref/paged', subject, { mediaType: OCI_MANIFEST, digest: sha256Digest(json(i)), size: i, artifactType: i % 2 === 0 ? 'even' : 'odd' })
    }
    const dir = await mkdtemp(join(tmpdir(), 'mp2ipfs-referrers-'))
    const registry = createRegistry({ blockstore: new MemoryBlockstore(), digestIndex: memoryDigestIndex(), catalog: memoryCatalog(), uploadsDir: dir, referrers: index })
    const base = `http://127.0.0.1:${await registry.listen(0)}`
    try {
      const seen: string[] = []
      let next: string | undefined = `/v2/ref/paged/referrers/${subject}`
      let pages = 0
      while (next !== undefined) {
        const res: Response = await fetch(new URL(next, base))
        const body = await res.json() as ReferrersList
        expect(body.manifests.length).toBeLessThanOrEqual(REFERRERS_PAGE)
        seen.push(...body.manifests.map(m => m.digest as string))
        next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1]
        pages++
      }
      expect(pages).toBe(2)
      expect(seen).toEqual([...seen].sort())
      expect(new Set(seen).size).toBe(count)
      const odd = await fetch(new URL(`/v2/ref/paged/referrers/${subject}?artifactType=odd`, base))
      expect(odd.headers.get('link')).toBeNull() // (count - 1) / 2 fit on one page
      expect((await odd.json() as ReferrersList).manifests).toHaveLength((count - 1) / 2)
    } finally {
      await registry.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('referrers indexes', () => {
  const subject = sha256Digest(json({ subject: true }))
  const one = { mediaType: OCI_MANIFEST, digest: sha256Digest(json(1)), size: 10, artifactType: 'a/b', annotations: { k: 'v' } }
  const two = { mediaType: OCI_INDEX, digest: sha256Digest(json(2)), size: 20 }

  const conformance = (make: () => ReferrersIndex): void => {
    it('keeps referrers per repository and subject, once each', async () => {
      const index = make()
      await index.add('a', subject, one)
      await index.add('a', subject, one)
      await index.add('a', subject, two)
      // a name that extends another with slashes, and one that looks like a key, stay apart
      await index.add('a/b', subject, two)
      await index.add(`a/${subject.replace(':', '/')}`, subject, one)
      expect(await index.list('a', subject)).toEqual(expect.arrayContaining([one, two]))
      expect(await index.list('a', subject)).toHaveLength(2)
      expect(await index.list('a/b', subject)).toEqual([two])
      expect(await index.list('b', subject)).toEqual([])
      expect(await index.list('a', sha256Digest(json('other')))).toEqual([])
    })
  }

  describe('in memory', () => { conformance(memoryReferrersIndex) })

  describe('in a datastore', () => {
    conformance(() => datastoreReferrersIndex(new MemoryDatastore()))

    it('survives a new index over the same datastore (a restart)', async () => {
      const datastore = new MemoryDatastore()
      await datastoreReferrersIndex(datastore).add('x/y', subject, one)
      expect(await datastoreReferrersIndex(datastore).list('x/y', subject)).toEqual([one])
    })
  })
})
