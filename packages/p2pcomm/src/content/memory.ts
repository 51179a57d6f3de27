import type { CID } from 'multiformats/cid'
import type { AbortOptions, BlockWriter, Content, ContentStat, FetchOptions, FetchResult, GetOptions, Pinned, PinOptions, PutOptions } from './content.js'
import { linksOf } from './dag.js'
import { blockKey, checkBlock } from './verify.js'

export interface MemoryContentInit {
  /**
   * The "network": asked for a block that is not held here. Without it (or when it answers
   * undefined) a get waits until the block is put or the signal aborts, as a real exchange would.
   */
  remote?: (cid: CID, options: AbortOptions) => Promise<Uint8Array | undefined>
}

/** The in-memory twin of Content, for unit tests: blocks and pins in maps, everything verified. */
export function memoryContent (init: MemoryContentInit = {}): Content {
  return new MemoryContent(init)
}

class MemoryContent implements Content {
  readonly backend = { kind: 'embedded' as const, description: 'memory' }
  private readonly blocks = new Map<string, Uint8Array>()
  private readonly pins = new Map<string, Pinned>()
  private readonly waiters = new Map<string, Set<() => void>>()

  constructor (private readonly init: MemoryContentInit) {}

  async get (cid: CID, options: GetOptions = {}): Promise<Uint8Array> {
    const key = blockKey(cid)
    for (;;) {
      options.signal?.throwIfAborted()
      const held = this.blocks.get(key)
      if (held != null) return held
      const fetched = await this.init.remote?.(cid, options)
      if (fetched != null) {
        await this.put(cid, fetched, options)
        return fetched
      }
      await this.arrival(key, options.signal)
    }
  }

  async has (cid: CID): Promise<boolean> {
    return this.blocks.has(blockKey(cid))
  }

  async put (cid: CID, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    if (options.hashed !== true) await checkBlock(cid, bytes)
    const key = blockKey(cid)
    // a copy: the caller may reuse its buffer
    if (!this.blocks.has(key)) this.blocks.set(key, Uint8Array.prototype.slice.call(bytes))
    const waiting = this.waiters.get(key)
    this.waiters.delete(key)
    waiting?.forEach(wake => { wake() })
  }

  writer (options: PutOptions = {}): BlockWriter {
    return {
      put: async (cid, bytes) => { await this.put(cid, bytes, options) },
      has: async cid => await this.has(cid),
      close: async () => {},
      abort: () => {}
    }
  }

  async fetch (roots: CID[], options: FetchOptions = {}): Promise<FetchResult> {
    options.onStarted?.()
    let done = 0
    for (const root of roots) {
      await this.walk(root, Infinity, options, (cid, bytes) => {
        if (linksOf(cid, bytes).length === 0) options.onProgress?.(done += bytes.byteLength)
      })
      options.onFetched?.(root)
    }
    return { overBitswap: 0 }
  }

  async pin (cid: CID, options: PinOptions = {}): Promise<void> {
    const depth = options.depth ?? Infinity
    let blocks = 0
    await this.walk(cid, depth, options, () => { options.onProgress?.(++blocks) })
    const existing = this.pins.get(blockKey(cid))
    if (existing == null || existing.depth < depth) this.pins.set(blockKey(cid), { cid, depth })
  }

  async unpin (cid: CID): Promise<void> {
    this.pins.delete(blockKey(cid))
  }

  async * pinned (): AsyncGenerator<Pinned> {
    yield * [...this.pins.values()]
  }

  async isPinned (cid: CID): Promise<boolean> {
    return this.pins.has(blockKey(cid))
  }

  async stat (): Promise<ContentStat> {
    let bytes = 0
    for (const block of this.blocks.values()) bytes += block.byteLength
    return { blocks: this.blocks.size, bytes }
  }

  /** Every block of the DAG down to `depth`, fetched when missing */
  private async walk (root: CID, depth: number, options: AbortOptions, visit: (cid: CID, bytes: Uint8Array) => void): Promise<void> {
    const bytes = await this.get(root, options)
    visit(root, bytes)
    if (depth <= 0) return
    for (const child of linksOf(root, bytes)) await this.walk(child, depth - 1, options, visit)
  }

  private async arrival (key: string, signal?: AbortSignal): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const set = this.waiters.get(key) ?? new Set()
      this.waiters.set(key, set)
      const onAbort = (): void => { set.delete(wake); reject(signal?.reason) }
      const wake = (): void => { signal?.removeEventListener('abort', onAbort); resolve() }
      set.add(wake)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
