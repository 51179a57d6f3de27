import { DiskFullError, type BlockUsage, type Collector } from '@distromash/p2pcomm'
import type { Logger } from 'pino'
import type { ImageCache } from './image-cache.js'
import type { DiskMeasure } from './usage.js'

export interface DiskBudgetInit {
  /** --max-disk: bytes the data dir may take; none: disk use is only reported, garbage collected hourly */
  limitBytes?: number
  /** Shares of the limit: at the high one, cached images are evicted until use is below the low one */
  lowWatermark: number
  highWatermark: number
  /**
   * What the data dir takes and what its file system has left (usage.ts measureDisk), without the
   * files counted live: the block files and the uploads being received
   */
  measure: () => Promise<DiskMeasure>
  /** Removes unpinned blocks and compacts (embedded content only) */
  collector?: Collector
  cache?: ImageCache
  /** The block files now, counted live; their removed blocks count as reclaimable */
  blocks?: () => BlockUsage
  /** Bytes of the registry's uploads being received, counted live */
  uploads?: () => number
  log: Pick<Logger, 'info' | 'warn'>
  intervalMs?: number
  /** Without a limit, or below the low watermark, garbage is collected this often (default 1 h) */
  collectEveryMs?: number
  /** Above the low watermark, no more often than this unless an image was evicted (default 60 s) */
  collectAtMostEveryMs?: number
}

/** After evicting, every pack with removed blocks in it is rewritten: the room is needed now */
const EVICTION_COMPACTION = { minGarbageRatio: 0.01 }

/** Disk use against the limit, for /health, /metrics and the dashboard */
export interface DiskStats {
  usedBytes: number
  freeBytes: number
  limitBytes?: number
  lowWatermarkBytes?: number
  highWatermarkBytes?: number
  /** New blocks are refused (budget used up) or the file system is out of space */
  full: boolean
  reason?: string
  collections: number
  /** Unpinned blocks removed, and file bytes compaction gave back, since start */
  removedBytes: number
  reclaimedBytes: number
  /** Cached images evicted since start */
  evictions: number
  lastCollectionAt?: string
}

/** Below this much free space the file system counts as full */
const FULL_BELOW_FREE_BYTES = 16 * 1024 * 1024

/**
 * Keeps the data dir within --max-disk: past the low watermark garbage is collected, past the high
 * one cached images are evicted least recently used first until use is below the low one, and a
 * block that would take use past the limit is refused with DiskFullError (what strategies assign
 * here does not fit). Measures on a timer, and at once when a write is refused.
 */
export class DiskBudget {
  private measured: DiskMeasure = { usedBytes: 0, freeBytes: Number.MAX_SAFE_INTEGER }
  private timer?: NodeJS.Timeout
  private ticking: Promise<void> | undefined
  private queued: Promise<void> | undefined
  private lastCollect = 0
  private lastRound = 0
  private evictions = 0
  private stopped = false

  constructor (private readonly init: DiskBudgetInit) {}

  async start (): Promise<void> {
    this.lastCollect = Date.now()
    await this.measure()
    this.timer = setInterval(() => { void this.tick() }, this.init.intervalMs ?? 10_000)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.queued
    await this.ticking
  }

  /** Throws DiskFullError when `bytes` more would take the data dir past the limit */
  admit (bytes: number): void {
    const { limitBytes } = this.init
    if (limitBytes == null) return
    const used = this.usedBytes()
    // a round now rather than at the next timer, but not one per block
    if (used >= this.init.highWatermark * limitBytes && Date.now() - this.lastRound > 1_000) void this.tick()
    if (used + bytes > limitBytes) throw new DiskFullError(`disk full: the data dir uses ${formatBytes(used)} of --max-disk ${formatBytes(limitBytes)}; unpinned blocks and cached images are removed first, the images assigned here do not fit`)
  }

  stats (): DiskStats {
    const { limitBytes, lowWatermark, highWatermark, collector } = this.init
    const used = this.usedBytes()
    const reason = this.fullReason(used)
    const gc = collector?.stats()
    return {
      usedBytes: used,
      freeBytes: this.measured.freeBytes,
      ...(limitBytes != null ? { limitBytes, lowWatermarkBytes: Math.floor(lowWatermark * limitBytes), highWatermarkBytes: Math.floor(highWatermark * limitBytes) } : {}),
      full: reason != null,
      ...(reason != null ? { reason } : {}),
      collections: gc?.collections ?? 0,
      removedBytes: gc?.removedBytes ?? 0,
      reclaimedBytes: gc?.reclaimedBytes ?? 0,
      evictions: this.evictions,
      ...(gc?.lastCollectionAt != null ? { lastCollectionAt: gc.lastCollectionAt } : {})
    }
  }

  /**
   * One round: measure, collect, evict. Asked for while one runs, it starts after that one (which
   * may have measured before the change that asked); the asks meanwhile share it.
   */
  async tick (): Promise<void> {
    if (this.stopped) return
    const run = this.queued ?? (this.queued = (this.ticking ?? Promise.resolve()).then(async () => {
      this.queued = undefined
      this.ticking = this.round()
        .catch(err => { this.init.log.warn({ err: (err as Error).message }, 'disk budget round failed') })
        .finally(() => { this.ticking = undefined; this.lastRound = Date.now() })
      await this.ticking
    }))
    await run
  }

  private async round (): Promise<void> {
    await this.measure()
    const { limitBytes, lowWatermark, highWatermark } = this.init
    const sinceCollect = Date.now() - this.lastCollect
    const overLow = limitBytes != null && this.usedBytes() >= lowWatermark * limitBytes
    if (sinceCollect >= (overLow ? this.init.collectAtMostEveryMs ?? 60_000 : this.init.collectEveryMs ?? 3_600_000)) await this.collect()
    if (limitBytes == null || this.usedBytes() < highWatermark * limitBytes) return
    // a fresh view of the garbage: what is about to be freed (images evicted last round) counts as free
    await this.collect(false)
    if (this.expectedBytes() >= highWatermark * limitBytes) await this.evictDownTo(lowWatermark * limitBytes)
    if (this.reclaimableBytes() > 0) await this.collect(EVICTION_COMPACTION)
  }

  /**
   * Evicts cached images, least recently used first, until use would be below `target` once all
   * garbage is gone (a sweep after each eviction tells); the caller compacts once after.
   */
  private async evictDownTo (target: number): Promise<void> {
    const cache = this.init.cache
    if (cache == null) return
    for (const pin of await cache.evictable()) {
      if (this.expectedBytes() < target || this.stopped) return
      await cache.evict(pin)
      this.evictions++
      this.init.log.info({ cid: pin.cid.toString(), owners: pin.owners, lastUsed: new Date(pin.lastUsed).toISOString() }, 'disk above the high watermark: cached image evicted')
      await this.collect(false)
    }
  }

  /** Use once every block no pin holds is removed and compacted away (young ones too, soon) */
  private expectedBytes (): number {
    return this.usedBytes() - this.reclaimableBytes() - (this.init.collector?.stats().youngGarbageBytes ?? 0)
  }

  private async collect (compact?: typeof EVICTION_COMPACTION | false): Promise<void> {
    this.lastCollect = Date.now()
    if (this.init.collector == null) return
    const report = await this.init.collector.collect({ compact })
    if (report.removedBlocks > 0 || report.compaction.packs > 0) {
      this.init.log.info({ removedBlocks: report.removedBlocks, removedBytes: report.removedBytes, youngGarbageBytes: report.youngGarbageBytes, ...report.compaction, ms: report.ms }, 'garbage collected')
    }
    await this.measure()
  }

  private async measure (): Promise<void> {
    this.measured = await this.init.measure()
  }

  /** The last measure of the rest of the data dir, and the block files and uploads as they are now */
  private usedBytes (): number {
    return this.measured.usedBytes + (this.init.blocks?.().fileBytes ?? 0) + (this.init.uploads?.() ?? 0)
  }

  /** Bytes of removed blocks still in the block files: what compaction would give back */
  private reclaimableBytes (): number {
    const usage = this.init.blocks?.()
    return usage == null ? 0 : Math.max(0, usage.fileBytes - usage.liveBytes)
  }

  private fullReason (used: number): string | undefined {
    const { limitBytes } = this.init
    if (limitBytes != null && used >= limitBytes) return `--max-disk ${formatBytes(limitBytes)} reached (${formatBytes(used)} used)`
    if (this.measured.freeBytes < FULL_BELOW_FREE_BYTES) return `the data dir's file system has ${formatBytes(this.measured.freeBytes)} free`
    return undefined
  }
}

export function formatBytes (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}
