/*
 * Where the referrers API keeps which manifests name which as their subject: by repository and
 * subject digest. Storage only; the HTTP side is referrers.ts.
 */
import { Key, type Datastore } from 'interface-datastore'
import { digestHex, type Digest } from '../digest.js'

/** What the referrers list says about one referrer. */
export interface Referrer {
  mediaType: string
  digest: Digest
  size: number
  artifactType?: string
  annotations?: Record<string, string>
}

export interface ReferrersIndexOptions {
  signal?: AbortSignal
}

/** Referrers by repository and subject digest. Adding the same referrer twice keeps one entry. */
export interface ReferrersIndex {
  add(name: string, subject: Digest, referrer: Referrer, options?: ReferrersIndexOptions): Promise<void>
  list(name: string, subject: Digest, options?: ReferrersIndexOptions): Promise<Referrer[]>
}

class MemoryReferrersIndex implements ReferrersIndex {
  private readonly bySubject = new Map<string, Map<Digest, Referrer>>()

  async add (name: string, subject: Digest, referrer: Referrer): Promise<void> {
    const key = `${name}@${subject}`
    let referrers = this.bySubject.get(key)
    if (referrers === undefined) this.bySubject.set(key, referrers = new Map())
    referrers.set(referrer.digest, referrer)
  }

  async list (name: string, subject: Digest): Promise<Referrer[]> {
    return [...this.bySubject.get(`${name}@${subject}`)?.values() ?? []]
  }
}

/** The in-memory twin, for tests and short-lived tools (lost on restart). */
export function memoryReferrersIndex (): ReferrersIndex {
  return new MemoryReferrersIndex()
}

/**
 * Referrers persisted in any `interface-datastore`: one key per referrer,
 * `/<prefix>/<subject hex>/<repository, URI-encoded>/<referrer hex>`, its descriptor as JSON.
 * The repository is encoded so that its slashes cannot be mistaken for the key's own.
 */
class DatastoreReferrersIndex implements ReferrersIndex {
  constructor (private readonly datastore: Datastore, private readonly prefix: string) {}

  private base (name: string, subject: Digest): string {
    return `/${this.prefix}/${digestHex(subject)}/${encodeURIComponent(name)}`
  }

  async add (name: string, subject: Digest, referrer: Referrer, options: ReferrersIndexOptions = {}): Promise<void> {
    const key = new Key(`${this.base(name, subject)}/${digestHex(referrer.digest)}`)
    await this.datastore.put(key, new TextEncoder().encode(JSON.stringify(referrer)), options)
  }

  async list (name: string, subject: Digest, options: ReferrersIndexOptions = {}): Promise<Referrer[]> {
    const referrers: Referrer[] = []
    for await (const { value } of this.datastore.query({ prefix: `${this.base(name, subject)}/` }, options)) {
      referrers.push(JSON.parse(new TextDecoder().decode(value)) as Referrer)
    }
    return referrers
  }
}

export function datastoreReferrersIndex (datastore: Datastore, options: { prefix?: string } = {}): ReferrersIndex {
  return new DatastoreReferrersIndex(datastore, options.prefix ?? 'registry-referrers')
}
