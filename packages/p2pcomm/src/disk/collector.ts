import type { CID } from 'multiformats/cid'
import type { CollectableBlockstore, CompactionReport, CompactOptions } from './collectable.js'

/**
 * Removes blocks no pin holds and compacts the files they leave, while the node reads and writes.
 * A block is garbage when no pin holds it, it was written before the grace window, and no hold
 * (an import, upload or fetch in progress: their blocks are pinned only when they finish) began
 * before it was written. Pins being recorded and a sweep's check-and-remove exclude each other,
 * so a block a new pin reaches is never removed under it.
 */
export interface Collector {
  /** One pass: sweep, then compact; a pass already running is joined (and its options hold) */
  collect(options?: CollectOptions): Promise<CollectionReport>
  /** Protects every block written (or touched) from now until the returned release is called */
  hold(): () => void
  /** Runs `record` (a pin being recorded) while no sweep removes blocks */
  pinning<T>(record: () => Promise<T>): Promise<T>
  stats(): CollectorStats
}

export interface CollectOptions {
  signal?: AbortSignal
  /** How to compact after the sweep (default: the collector's init), or false: sweep only */
  compact?: Omit<CompactOptions, 'signal'> | false
}

export interface CollectionReport {
  removedBlocks: number
  removedBytes: number
  /** Bytes of blocks no pin holds that were kept only because they are young or held: garbage soon */
  youngGarbageBytes: number
  compaction: CompactionReport
  ms: number
}

export interface CollectorStats {
  /** Passes finished since start */
  collections: number
  removedBlocks: number
  removedBytes: number
  /** File bytes compaction gave back */
  reclaimedBytes: number
  /** As of the last pass: unpinned blocks kept only because they are young or held */
  youngGarbageBytes: number
  lastCollectionAt?: string
  running: boolean
}

export interface CollectorComponents {
  blockstore: CollectableBlockstore
  /** Which of these blocks a pin holds, one answer per CID in order (p2pcomm's pinnedBlocks) */
  pinned: (cids: CID[], options?: { signal?: AbortSignal }) => Promise<boolean[]>
}

export interface CollectorInit {
  /** Blocks written this recently are never garbage (default 10 min): what writes, pins when it finishes */
  graceMs?: number
  /** Blocks checked and removed per turn of the pin lock (default 1024) */
  batchSize?: number
  compact?: Omit<CompactOptions, 'signal'>
  now?: () => number
}

const DEFAULT_GRACE_MS = 10 * 60_000
const DEFAULT_BATCH = 1024

export function collector (components: CollectorComponents, init: CollectorInit = {}): Collector {
  return new GarbageCollector(components, init)
}

class GarbageCollector implements Collector {
  private readonly holds = new Map<symbol, number>()
  private pinsRecording = 0
  private sweeping = false
  private readonly waiters: Array<() => void> = []
  private running: Promise<CollectionReport> | undefined
  private readonly totals: CollectorStats = { collections: 0, removedBlocks: 0, removedBytes: 0, reclaimedBytes: 0, youngGarbageBytes: 0, running: false }

  constructor (private readonly components: CollectorComponents, private readonly init: CollectorInit) {}

  async collect (options: CollectOptions = {}): Promise<CollectionReport> {
    this.running ??= this.pass(options).finally(() => { this.running = undefined })
    return await this.running
  }

  hold (): () => void {
    const id = Symbol('hold')
    this.holds.set(id, this.now())
    return () => { this.holds.delete(id) }
  }

  async pinning<T>(record: () => Promise<T>): Promise<T> {
    while (this.sweeping) await this.turn()
    this.pinsRecording++
    try {
      return await record()
    } finally {
      this.pinsRecording--
      this.wake()
    }
  }

  stats (): CollectorStats {
    return { ...this.totals, running: this.running !== undefined }
  }

  private async pass (options: CollectOptions): Promise<CollectionReport> {
    const started = Date.now()
    const { blockstore } = this.components
    // young blocks are checked too, only to tell how much garbage is coming
    const candidates = [...blockstore.blocks()]
    let removedBlocks = 0
    let removedBytes = 0
    let youngGarbageBytes = 0
    const batchSize = this.init.batchSize ?? DEFAULT_BATCH
    for (let i = 0; i < candidates.length; i += batchSize) {
      options.signal?.throwIfAborted()
      const batch = candidates.slice(i, i + batchSize)
      const removed = await this.exclusive(async () => {
        const pinned = await this.components.pinned(batch.map(b => b.cid), { signal: options.signal })
        // the cutoff again: a hold begun or a block touched since the candidates were listed
        const cutoff = this.cutoff()
        const unpinned = batch.filter((_, j) => pinned[j] !== true)
        const garbage = unpinned.filter(b => b.writtenAt < cutoff)
        const removed = await blockstore.remove(garbage.map(b => b.cid), { signal: options.signal, writtenBefore: cutoff })
        const unpinnedBytes = unpinned.reduce((sum, b) => sum + b.length, 0)
        return { ...removed, young: unpinnedBytes - removed.bytes }
      })
      removedBlocks += removed.blocks
      removedBytes += removed.bytes
      youngGarbageBytes += removed.young
    }
    const compaction = options.compact === false
      ? { packs: 0, relocatedBlocks: 0, relocatedBytes: 0, reclaimedBytes: 0 }
      : await blockstore.compact({ ...(options.compact ?? this.init.compact), signal: options.signal })
    this.totals.collections++
    this.totals.removedBlocks += removedBlocks
    this.totals.removedBytes += removedBytes
    this.totals.reclaimedBytes += compaction.reclaimedBytes
    this.totals.youngGarbageBytes = youngGarbageBytes
    this.totals.lastCollectionAt = new Date().toISOString()
    return { removedBlocks, removedBytes, youngGarbageBytes, compaction, ms: Date.now() - started }
  }

  /** Blocks written at or after this are protected */
  private cutoff (): number {
    return Math.min(this.now() - (this.init.graceMs ?? DEFAULT_GRACE_MS), ...this.holds.values())
  }

  /** Runs `fn` once no pin is being recorded; pins wait for it */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.pinsRecording > 0 || this.sweeping) await this.turn()
    this.sweeping = true
    try {
      return await fn()
    } finally {
      this.sweeping = false
      this.wake()
    }
  }

  private async turn (): Promise<void> {
    await new Promise<void>(resolve => { this.waiters.push(resolve) })
  }

  private wake (): void {
    for (const resolve of this.waiters.splice(0)) resolve()
  }

  private now (): number {
    return (this.init.now ?? Date.now)()
  }
}
