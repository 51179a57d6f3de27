import { imageRecordSchema, repositoryAliases, type Catalog, type CidRecord, type ImageRecord } from './catalog.js'

/** The in-memory twin of the mesh's catalog (one node, no replication), for tests and tools. */
class MemoryCatalog implements Catalog {
  private readonly images = new Map<string, string>()
  private readonly cids = new Map<string, CidRecord>()

  constructor (private readonly why?: string) {}

  async record (rec: ImageRecord): Promise<void> {
    const valid = imageRecordSchema.parse(rec)
    // kept as JSON so callers never share mutable objects with the catalog, as with the real one
    this.images.set(`${valid.name}:${valid.tag}`, JSON.stringify(valid))
    this.cids.set(valid.cid, { name: valid.name, tag: valid.tag })
  }

  async get (nameTag: string): Promise<ImageRecord | undefined> {
    const text = this.images.get(nameTag)
    return text == null ? undefined : JSON.parse(text) as ImageRecord
  }

  async resolve (repository: string, tag: string): Promise<ImageRecord | undefined> {
    for (const name of repositoryAliases(repository)) {
      const rec = await this.get(`${name}:${tag}`)
      if (rec !== undefined) return rec
    }
    return undefined
  }

  async byCid (cid: { toString: () => string }): Promise<CidRecord | undefined> {
    const rec = this.cids.get(cid.toString())
    return rec == null ? undefined : { ...rec }
  }

  async list (): Promise<ImageRecord[]> {
    return [...this.images.keys()].sort().map(k => JSON.parse(this.images.get(k) as string) as ImageRecord)
  }

  async tags (repository: string): Promise<string[]> {
    const names = repositoryAliases(repository)
    return [...new Set((await this.list()).filter(r => names.includes(r.name)).map(r => r.tag))].sort()
  }

  denies (): string | undefined { return this.why }
}

/** `denies`: make the twin refuse to record, as a node that is not a writer does */
export function memoryCatalog (options: { denies?: string } = {}): Catalog {
  return new MemoryCatalog(options.denies)
}
