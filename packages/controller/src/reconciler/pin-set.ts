import type { Pins } from '@helia/interface'
import type { CID } from 'multiformats/cid'
import drain from 'it-drain'

const OWNERS = 'distromash-images'

/**
 * Pins shared between images: a layer used by two images stays pinned until both release it.
 * The owning images are kept in the pin's metadata, so the count survives restarts.
 */
export class PinSet {
  constructor (private readonly pins: Pins) {}

  async add (cid: CID, image: string, options: { depth?: number, signal?: AbortSignal } = {}): Promise<void> {
    const owners = await this.owners(cid, options)
    if (owners == null) {
      await drain(this.pins.add(cid, { depth: options.depth, signal: options.signal, metadata: { [OWNERS]: image } }))
      return
    }
    if (!owners.includes(image)) await this.pins.setMetadata(cid, { [OWNERS]: [...owners, image].join('\n') }, options)
  }

  async release (cid: CID, image: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const owners = await this.owners(cid, options)
    if (owners == null) return
    const rest = owners.filter(o => o !== image)
    if (rest.length > 0) await this.pins.setMetadata(cid, { [OWNERS]: rest.join('\n') }, options)
    else await drain(this.pins.rm(cid, options))
  }

  /** Release every pin this image holds */
  async releaseAll (image: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const mine: CID[] = []
    for await (const pin of this.pins.ls(options)) {
      const value = pin.metadata[OWNERS]
      if (typeof value === 'string' && value.split('\n').includes(image)) mine.push(pin.cid)
    }
    for (const cid of mine) await this.release(cid, image, options)
  }

  /** Every direct pin with the images that hold it */
  async list (options: { signal?: AbortSignal } = {}): Promise<Array<{ cid: string, owners: string[] }>> {
    const out: Array<{ cid: string, owners: string[] }> = []
    for await (const pin of this.pins.ls(options)) {
      const value = pin.metadata[OWNERS]
      out.push({ cid: pin.cid.toString(), owners: typeof value === 'string' && value !== '' ? value.split('\n') : [] })
    }
    return out
  }

  async holds (cid: CID, image: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return (await this.owners(cid, options))?.includes(image) ?? false
  }

  /** undefined when not pinned directly; [] when pinned by someone else than the reconciler */
  private async owners (cid: CID, options: { signal?: AbortSignal }): Promise<string[] | undefined> {
    let pin
    try {
      pin = await this.pins.get(cid, options)
    } catch (err) {
      // only held through another pin (e.g. an image root pinned whole), or not at all
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
    const value = pin.metadata[OWNERS]
    return typeof value === 'string' && value !== '' ? value.split('\n') : []
  }
}
