import { Key, type Datastore } from 'interface-datastore'
import type { Catalog } from '@distromash/multiplatform2ipfs'
import { CID as CIDClass, type CID } from 'multiformats/cid'
import type { PinSet } from '../reconciler/pin-set.js'

const PREFIX = '/distromash/last-used'
/** A use is written at most this often per CID (a pull reads the catalog many times) */
const TOUCH_EVERY_MS = 60_000

/** The owner of a pin kept as a cache after no executing strategy assigns its image here any more */
export function cacheOwner (image: string): string {
  return `cache:${image}`
}

/**
 * Owners that do not make a pin needed here: a cached image, an import (the importing node keeps
 * what it imported while there is room), a push. An image assigned here (owner: its name) and a
 * pin asked for through the API (`api:`) are never evicted.
 */
export function isCacheOwner (owner: string): boolean {
  return owner.startsWith('cache:') || owner.startsWith('import:') || owner.startsWith('push:')
}

export interface CachedPin {
  cid: CID
  owners: string[]
  /** ms since the epoch of its last use */
  lastUsed: number
}

/**
 * Pins no executing strategy needs on this node, kept while the disk has room and evicted least
 * recently used first. A pin's last use (pinned, released to the cache, pulled through the
 * registry) is kept in the node's datastore so the order survives restarts; a pin seen for the
 * first time counts as used then.
 */
export class ImageCache {
  private readonly written = new Map<string, number>()

  constructor (private readonly datastore: Datastore, private readonly pins: PinSet, private readonly now: () => number = Date.now) {}

  /** An image no strategy assigns here any more: its pins are kept as a cache, used now */
  async keep (image: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    for (const cid of await this.pins.handOver(image, cacheOwner(image), options)) await this.touch(cid, { force: true })
  }

  async touch (cid: CID, options: { force?: boolean } = {}): Promise<void> {
    const key = cid.toV1().toString()
    const at = this.now()
    if (options.force !== true && at - (this.written.get(key) ?? 0) < TOUCH_EVERY_MS) return
    this.written.set(key, at)
    await this.datastore.put(new Key(`${PREFIX}/${key}`), new TextEncoder().encode(String(at)))
  }

  /** Pins only cache owners hold, least recently used first */
  async evictable (options: { signal?: AbortSignal } = {}): Promise<CachedPin[]> {
    const out: CachedPin[] = []
    for (const { cid, owners } of await this.pins.entries(options)) {
      if (owners.length === 0 || !owners.every(isCacheOwner)) continue
      out.push({ cid, owners, lastUsed: await this.lastUsed(cid) })
    }
    return out.sort((a, b) => a.lastUsed - b.lastUsed)
  }

  /** Releases the pin: its blocks become garbage unless another pin holds them */
  async evict (pin: CachedPin, options: { signal?: AbortSignal } = {}): Promise<void> {
    for (const owner of pin.owners) await this.pins.release(pin.cid, owner, options)
    await this.datastore.delete(new Key(`${PREFIX}/${pin.cid.toV1().toString()}`))
  }

  private async lastUsed (cid: CID): Promise<number> {
    try {
      const at = Number(new TextDecoder().decode(await this.datastore.get(new Key(`${PREFIX}/${cid.toV1().toString()}`))))
      if (Number.isFinite(at)) return at
    } catch (err) {
      if ((err as Error).name !== 'NotFoundError') throw err
    }
    await this.touch(cid, { force: true })
    return this.now()
  }
}

/** The catalog, telling the cache of every image the registry looks up (a pull by name or by CID is a use) */
export function touchingCatalog (catalog: Catalog, cache: ImageCache): Catalog {
  const touch = (cid: string | CID | undefined): void => {
    if (cid == null) return
    void cache.touch(typeof cid === 'string' ? CIDClass.parse(cid) : cid).catch(() => { /* an order hint only */ })
  }
  return {
    record: async rec => { await catalog.record(rec) },
    get: async nameTag => await catalog.get(nameTag),
    resolve: async (repository, tag) => {
      const record = await catalog.resolve(repository, tag)
      touch(record?.cid)
      return record
    },
    byCid: async cid => {
      const record = await catalog.byCid(cid)
      if (record != null) touch(cid)
      return record
    },
    list: async () => await catalog.list(),
    tags: async repository => await catalog.tags(repository),
    denies: () => catalog.denies()
  }
}
