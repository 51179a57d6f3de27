/*
 * The catalog: which image a `name:tag` means (name is the familiar name: `busybox`, `user/app`,
 * `ghcr.io/x/y`), and which name:tag a root CID was published under. The mesh shares it through
 * its replicated records (the controller's records module implements this interface over them);
 * catalog-memory.ts is the in-memory twin. The schemas below are the records' schemas.
 */
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { isDigest } from './digest.js'

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
  /** Why this node may not record images (not a writer of the mesh), or undefined */
  denies(): string | undefined
}

/** The names a registry repository may be recorded under, most specific first. */
export function repositoryAliases (repository: string): string[] {
  const names = [repository]
  if (repository.startsWith('library/') && !repository.slice(8).includes('/')) names.push(repository.slice(8))
  if (!repository.includes('/')) names.push(`library/${repository}`)
  return names
}
