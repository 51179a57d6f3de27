import type { CID } from 'multiformats/cid'

/**
 * What a garbage collector needs from a blockstore beyond reads and writes: the blocks it holds
 * with when each was written, batched removal, compaction of its files, and what they take on disk.
 * The pack blockstore is the real one; memoryCollectable (memory.ts) is its twin.
 */
export interface CollectableBlockstore {
  /** Every block held now, with its size and when it was written (0: before this process started) */
  blocks(): Iterable<StoredBlock>
  /** Marks a block written now: a writer that found it already here relies on it from now on */
  touch(cid: CID): void
  /**
   * Removes these blocks, except any written (or touched) at or after `writtenBefore`, checked in
   * the same step; one missing is not an error. Says what it removed.
   */
  remove(cids: CID[], options?: RemoveOptions): Promise<{ blocks: number, bytes: number }>
  /**
   * Rewrites files whose removed blocks waste space so that only held blocks remain, online
   * (reads and writes go on) and crash-safe (a kill at any point loses no held block).
   */
  compact(options?: CompactOptions): Promise<CompactionReport>
  usage(): BlockUsage
  /** Whether `path` is one of the files usage().fileBytes counts (a disk walk leaves those out) */
  countsFile(path: string): boolean
}

export interface RemoveOptions {
  signal?: AbortSignal
  writtenBefore?: number
}

export interface StoredBlock {
  cid: CID
  /** Bytes of the block */
  length: number
  /** Date.now() of its write, or 0 for blocks found on disk at open */
  writtenAt: number
}

export interface CompactOptions {
  /** A file is rewritten when at least this share of it is removed blocks (default 0.25) */
  minGarbageRatio?: number
  /** … and at least this many bytes (default 0) */
  minGarbageBytes?: number
  signal?: AbortSignal
  /** Called with each rewrite's figures, e.g. for a progress log */
  onPack?: (report: CompactionReport) => void
}

export interface CompactionReport {
  /** Files rewritten and removed */
  packs: number
  /** Held blocks copied out of them, and their bytes */
  relocatedBlocks: number
  relocatedBytes: number
  /** File bytes given back to the file system */
  reclaimedBytes: number
}

export interface BlockUsage {
  blocks: number
  /** Bytes of the blocks held */
  liveBytes: number
  /** Bytes of the files holding them, removed blocks not yet compacted away included */
  fileBytes: number
}
