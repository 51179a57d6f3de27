import type { Content, PinOptions } from '@distromash/p2pcomm'
import { Key, type Datastore } from 'interface-datastore'
import { CID } from 'multiformats/cid'

/** Before pins were kept behind Content, the owners lived in Helia's pin metadata under this name */
const LEGACY_OWNERS = 'distromash-images'
const PREFIX = '/distromash/pin-owners'

/**
 * Pins shared between images: a layer used by two images stays pinned until both release it.
 * The owners (images, imports, pushes, API calls) of each pin this set made are kept in the
 * node's datastore, so the count survives restarts whichever content backend holds the pins.
 */
export class PinSet {
  private queue: Promise<unknown> = Promise.resolve()

  private constructor (private readonly content: Content, private readonly datastore: Datastore) {}

  /** Opens the set; owners recorded in Helia's pin metadata by an earlier version are carried over */
  static async open (content: Content, datastore: Datastore): Promise<PinSet> {
    const set = new PinSet(content, datastore)
    for await (const pin of content.pinned()) {
      const legacy = pin.metadata?.[LEGACY_OWNERS]
      if (typeof legacy === 'string' && legacy !== '' && await set.owners(pin.cid) == null) await set.write(pin.cid, legacy.split('\n'))
    }
    return set
  }

  async add (cid: CID, owner: string, options: Pick<PinOptions, 'depth' | 'signal' | 'onProgress'> = {}): Promise<void> {
    const owners = await this.owners(cid, options)
    // (re)pinned even when recorded: a backend that lost a pin (a Kubo repo reset) gets it back
    if (owners == null || !await this.content.isPinned(cid, options)) await this.content.pin(cid, options)
    await this.serial(async () => {
      const now = await this.owners(cid) ?? []
      if (!now.includes(owner)) await this.write(cid, [...now, owner])
    })
  }

  async release (cid: CID, owner: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.serial(async () => {
      const owners = await this.owners(cid, options)
      if (owners == null) return
      const rest = owners.filter(o => o !== owner)
      if (rest.length > 0) {
        await this.write(cid, rest)
        return
      }
      await this.content.unpin(cid, options)
      await this.datastore.delete(keyOf(cid))
    })
  }

  /** Release every pin this owner holds */
  async releaseAll (owner: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const mine = (await this.entries(options)).filter(e => e.owners.includes(owner))
    for (const { cid } of mine) await this.release(cid, owner, options)
  }

  /** Gives every pin `from` holds to `to` instead (an image no strategy assigns any more, kept as a cache); the CIDs */
  async handOver (from: string, to: string, options: { signal?: AbortSignal } = {}): Promise<CID[]> {
    const moved: CID[] = []
    for (const { cid, owners } of await this.entries(options)) {
      if (!owners.includes(from)) continue
      await this.serial(async () => {
        const now = await this.owners(cid) ?? []
        if (now.includes(from)) await this.write(cid, [...new Set(now.map(o => o === from ? to : o))])
      })
      moved.push(cid)
    }
    return moved
  }

  /** Every pin this set made, with its owners, from the datastore alone */
  async entries (options: { signal?: AbortSignal } = {}): Promise<Array<{ cid: CID, owners: string[] }>> {
    const out: Array<{ cid: CID, owners: string[] }> = []
    for await (const { key, value } of this.datastore.query({ prefix: PREFIX }, options)) out.push({ cid: CID.parse(key.baseNamespace()), owners: decode(value) })
    return out
  }

  /** Every direct and recursive pin of the backend, with what holds it ([] for pins made by others) */
  async list (options: { signal?: AbortSignal } = {}): Promise<Array<{ cid: string, owners: string[] }>> {
    const out: Array<{ cid: string, owners: string[] }> = []
    for await (const pin of this.content.pinned(options)) out.push({ cid: pin.cid.toString(), owners: await this.owners(pin.cid, options) ?? [] })
    return out
  }

  /** True when `owner` holds the pin and the backend really has it */
  async holds (cid: CID, owner: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return (await this.owners(cid, options))?.includes(owner) === true && await this.content.isPinned(cid, options)
  }

  /** undefined when this set never pinned the CID */
  private async owners (cid: CID, options: { signal?: AbortSignal } = {}): Promise<string[] | undefined> {
    try {
      return decode(await this.datastore.get(keyOf(cid), options))
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
  }

  private async write (cid: CID, owners: string[]): Promise<void> {
    await this.datastore.put(keyOf(cid), new TextEncoder().encode(JSON.stringify(owners)))
  }

  /** Owner changes one at a time: each reads the record and writes it back */
  private async serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn)
    this.queue = run.catch(() => {})
    return await run
  }
}

function keyOf (cid: CID): Key {
  return new Key(`${PREFIX}/${cid.toV1().toString()}`)
}

function decode (value: Uint8Array): string[] {
  const parsed: unknown = JSON.parse(new TextDecoder().decode(value))
  return Array.isArray(parsed) ? parsed.filter((o): o is string => typeof o === 'string') : []
}
