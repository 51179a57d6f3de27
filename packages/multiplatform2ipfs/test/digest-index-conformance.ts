import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import type { Digest } from '../src/digest.js'
import type { DigestIndex } from '../src/layout/digest-index.js'

const digest = (c: string): Digest => `sha256:${c.repeat(64)}`
const cid = CID.parse('bafkreiea22xmjdakorrvuxz5yeddfdawoox2uipnnyjhbknejxtg5d72ku')

/** One suite every DigestIndex implementation must pass. */
export function digestIndexConformance (name: string, create: () => Promise<DigestIndex> | DigestIndex): void {
  describe(`DigestIndex conformance: ${name}`, () => {
    it('returns undefined for an unknown digest', async () => {
      expect(await (await create()).get(digest('0'))).toBeUndefined()
    })

    it('returns what was put, with an equal CID', async () => {
      const index = await create()
      await index.put(digest('1'), { cid, size: 5, dagSize: 5 })
      const got = await index.get(digest('1'))
      expect(got?.cid.equals(cid)).toBe(true)
      expect(got).toMatchObject({ size: 5, dagSize: 5 })
    })

    it('overwrites and deletes', async () => {
      const index = await create()
      await index.put(digest('2'), { cid, size: 1, dagSize: 1 })
      await index.put(digest('2'), { cid, size: 2, dagSize: 3 })
      expect(await index.get(digest('2'))).toMatchObject({ size: 2, dagSize: 3 })
      await index.delete(digest('2'))
      expect(await index.get(digest('2'))).toBeUndefined()
      await index.delete(digest('2'))
    })

    it('handles sizes beyond 32 bits', async () => {
      const index = await create()
      await index.put(digest('3'), { cid, size: 2 ** 40, dagSize: 2 ** 40 + 1234 })
      expect(await index.get(digest('3'))).toMatchObject({ size: 2 ** 40, dagSize: 2 ** 40 + 1234 })
    })
  })
}
