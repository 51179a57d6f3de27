/*
 * The catalog: which image a `name:tag` means, shared by every peer through the mesh's replicated
 * key-value store. Two kinds of record:
 *
 *   image/<name>:<tag>  → ImageRecord   (name is the familiar name: `busybox`, `user/app`, `ghcr.io/x/y`)
 *   cid/<root cid>      → { name, tag } (reverse lookup)
 *
 * Records may arrive from any peer, so every read is validated with the same schemas the store
 * uses to check incoming records; an invalid record reads as absent.
 */
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { isDigest } from './digest.js'

/** What the catalog needs from the mesh store (p2pcomm's ReplicatedStore satisfies it structurally). */
export interface KeyValueStore {
  get(key: string): Promise<unknown>
  put(key: string, value: unknown): Promise<void>
  list(prefix: string): Promise<Array<{ key: string, value: unknown }>>
  delete(key: string): Promise<boolean>
}

export const IMAGE_PREFIX = 'image/'
export const CID_PREFIX = 'cid/'

const TAG = /^[\w][\w.-]{0,127}$/

const cidString = z.string().refine(value => {
  try {
    return CID.parse(value).version === 1
  } catch {
    return false
  }
}, 'expected a CIDv1 string')

export const imageRecordSchema = z.object({
  name: z.string().min(1).max(255),
  tag: z.string().regex(TAG),
  cid: cidString,
  digest: z.string().refine(isDigest, 'expected sha256:<64 lowercase hex>'),
  mediaType: z.string().min(1),
  platforms: z.array(z.string()),
  size: z.number().int().nonnegative(),
  source: z.string(),
  importedBy: z.string(),
  at: z.iso.datetime({ offset: true })
})

export const cidRecordSchema = z.object({
  name: z.string().min(1).max(255),
  tag: z.string().regex(TAG)
})

export type ImageRecord = z.infer<typeof imageRecordSchema>
export type CidRecord = z.infer<typeof cidRecordSchema>

/** For the store's record validator: records from peers under these prefixes must parse. */
export const catalogRecordSchemas: Array<{ prefix: string, schema: z.ZodType }> = [
  { prefix: IMAGE_PREFIX, schema: imageRecordSchema },
  { prefix: CID_PREFIX, schema: cidRecordSchema }
]

export interface Catalog {
  record(rec: ImageRecord): Promise<void>
  /** By `name:tag` exactly as recorded. */
  get(nameTag: string): Promise<ImageRecord | undefined>
  /** Registry lookup: `library/x` and `x` name the same image. */
  resolve(repository: string, tag: string): Promise<ImageRecord | undefined>
  byCid(cid: string | CID): Promise<CidRecord | undefined>
  list(): Promise<ImageRecord[]>
  /** Sorted tags recorded for a repository (with the same `library/` aliasing as resolve). */
  tags(repository: string): Promise<string[]>
}

/** The names a registry repository may be recorded under, most specific first. */
export function repositoryAliases (repository: string): string[] {
  const names = [repository]
  if (repository.startsWith('library/') && !repository.slice(8).includes('/')) names.push(repository.slice(8))
  if (!repository.includes('/')) names.push(`library/${repository}`)
  return names
}

class StoreCatalog implements Catalog {
  constructor (private readonly store: KeyValueStore) {}

  async record (rec: ImageRecord): Promise<void> {
    const valid = imageRecordSchema.parse(rec)
    await this.store.put(`${IMAGE_PREFIX}${valid.name}:${valid.tag}`, valid)
    await this.store.put(`${CID_PREFIX}${valid.cid}`, { name: valid.name, tag: valid.tag })
  }

  async get (nameTag: string): Promise<ImageRecord | undefined> {
    return parsed(imageRecordSchema, await this.store.get(`${IMAGE_PREFIX}${nameTag}`))
  }

  async resolve (repository: string, tag: string): Promise<ImageRecord | undefined> {
    for (const name of repositoryAliases(repository)) {
      const rec = await this.get(`${name}:${tag}`)
      if (rec !== undefined) return rec
    }
    return undefined
  }

  async byCid (cid: string | CID): Promise<CidRecord | undefined> {
    return parsed(cidRecordSchema, await this.store.get(`${CID_PREFIX}${cid.toString()}`))
  }

  async list (): Promise<ImageRecord[]> {
    const entries = await this.store.list(IMAGE_PREFIX)
    return entries.flatMap(e => parsed(imageRecordSchema, e.value) ?? [])
  }

  async tags (repository: string): Promise<string[]> {
    const tags = new Set<string>()
    for (const name of repositoryAliases(repository)) {
      // the prefix also matches longer names (`busybox-x:`), so compare the name part exactly
      for (const entry of await this.store.list(`${IMAGE_PREFIX}${name}:`)) {
        const rec = parsed(imageRecordSchema, entry.value)
        if (rec?.name === name) tags.add(rec.tag)
      }
    }
    return [...tags].sort()
  }
}

function parsed<T> (schema: z.ZodType<T>, value: unknown): T | undefined {
  const result = schema.safeParse(value)
  return result.success ? result.data : undefined
}

export function createCatalog (store: KeyValueStore): Catalog {
  return new StoreCatalog(store)
}
