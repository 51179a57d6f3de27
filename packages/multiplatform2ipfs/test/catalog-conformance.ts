import { describe, expect, it } from 'vitest'
import { imageRecordSchema, type Catalog, type ImageRecord } from '../src/catalog.js'

const CID = 'bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354'
const DIGEST = `sha256:${'a'.repeat(64)}` as const

const record = (over: Partial<ImageRecord> = {}): ImageRecord => ({
  name: 'busybox', tag: '1.35.0', cid: CID, digest: DIGEST, mediaType: 'application/vnd.oci.image.index.v1+json',
  platforms: ['linux/amd64'], size: 1234, source: 'docker.io', importedBy: 'local', at: new Date(0).toISOString(), ...over
})

/** One suite for every Catalog: the in-memory twin here, the one over the mesh's records in the controller. */
export function catalogConformance (name: string, make: () => Promise<{ catalog: Catalog }>): void {
  describe(`${name} catalog conformance`, () => {
    it('records name:tag and cid records and reads them back', async () => {
      const { catalog } = await make()
      await catalog.record(record())
      expect(await catalog.get('busybox:1.35.0')).toEqual(record())
      expect(await catalog.byCid(CID)).toEqual({ name: 'busybox', tag: '1.35.0' })
      expect(await catalog.list()).toEqual([record()])
      expect(catalog.denies()).toBeUndefined()
    })

    it('resolves library/ aliases both ways and lists tags per repository', async () => {
      const { catalog } = await make()
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

    it('refuses invalid records', async () => {
      const { catalog } = await make()
      await expect(catalog.record(record({ cid: 'not-a-cid' }))).rejects.toThrow()
      await expect(catalog.record(record({ digest: 'sha256:xyz' }))).rejects.toThrow()
      expect(await catalog.list()).toEqual([])
      expect(imageRecordSchema.safeParse({ ...record(), at: 'yesterday' }).success).toBe(false)
    })
  })
}
