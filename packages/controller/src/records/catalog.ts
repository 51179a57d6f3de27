import { imageRecordSchema, repositoryAliases, type Catalog, type CidRecord, type ImageRecord } from '@distromash/multiplatform2ipfs'
import type { CID } from 'multiformats/cid'
import type { Records } from './records.js'

/**
 * multiplatform2ipfs's catalog (which image a name:tag means) over the mesh's records: the
 * registry and the importer see the Catalog interface, never the store.
 */
export function recordsCatalog (records: Records): Catalog {
  return {
    async record (rec: ImageRecord): Promise<void> {
      await records.putImage(imageRecordSchema.parse(rec))
    },
    get: async nameTag => records.image(nameTag),
    async resolve (repository, tag) {
      for (const name of repositoryAliases(repository)) {
        const rec = await records.image(`${name}:${tag}`)
        if (rec !== undefined) return rec
      }
      return undefined
    },
    byCid: async (cid: string | CID): Promise<CidRecord | undefined> => records.cid(cid.toString()),
    list: async () => records.images(),
    async tags (repository) {
      const tags = new Set<string>()
      // images(name) matches longer names too (`busybox-x:`): compare the name exactly
      for (const name of repositoryAliases(repository)) for (const rec of await records.images(name)) if (rec.name === name) tags.add(rec.tag)
      return [...tags].sort()
    },
    denies: () => records.deniesDesiredState()
  }
}
