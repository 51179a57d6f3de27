import type { CID } from 'multiformats/cid'
import type { BlockUsage, CollectableBlockstore, CompactionReport, CompactOptions, RemoveOptions, StoredBlock } from './collectable.js'

/**
 * The in-memory twin of a collectable blockstore, for tests of what collects: removed blocks
 * keep taking "file" bytes until compact(), as in a pack.
 */
export class MemoryCollectable implements CollectableBlockstore {
  private readonly held = new Map<string, { cid: CID, bytes: Uint8Array, writtenAt: number }>()
  private wasted = 0

  constructor (private readonly now: () => number = Date.now) {}

  async put (cid: CID, bytes: Uint8Array): Promise<void> {
    this.held.set(keyOf(cid), { cid, bytes, writtenAt: this.now() })
  }

  async has (cid: CID): Promise<boolean> {
    return this.held.has(keyOf(cid))
  }

  async get (cid: CID): Promise<Uint8Array | undefined> {
    return this.held.get(keyOf(cid))?.bytes
  }

  * blocks (): Generator<StoredBlock> {
    for (const b of [...this.held.values()]) yield { cid: b.cid, length: b.bytes.byteLength, writtenAt: b.writtenAt }
  }

  touch (cid: CID): void {
    const b = this.held.get(keyOf(cid))
    if (b !== undefined) b.writtenAt = this.now()
  }

  async remove (cids: CID[], options: RemoveOptions = {}): Promise<{ blocks: number, bytes: number }> {
    let blocks = 0
    let bytes = 0
    for (const cid of cids) {
      const b = this.held.get(keyOf(cid))
      if (b === undefined || b.writtenAt >= (options.writtenBefore ?? Infinity)) continue
      this.held.delete(keyOf(cid))
      blocks++
      bytes += b.bytes.byteLength
    }
    this.wasted += bytes
    return { blocks, bytes }
  }

  async compact (options: CompactOptions = {}): Promise<CompactionReport> {
    options.signal?.throwIfAborted()
    const { liveBytes } = this.usage()
    const worth = this.wasted > 0 && this.wasted >= (options.minGarbageBytes ?? 0) && this.wasted >= (options.minGarbageRatio ?? 0.25) * (liveBytes + this.wasted)
    if (!worth) return { packs: 0, relocatedBlocks: 0, relocatedBytes: 0, reclaimedBytes: 0 }
    const report = { packs: 1, relocatedBlocks: this.held.size, relocatedBytes: liveBytes, reclaimedBytes: this.wasted }
    this.wasted = 0
    options.onPack?.(report)
    return report
  }

  countsFile (): boolean {
    return false
  }

  usage (): BlockUsage {
    let liveBytes = 0
    for (const b of this.held.values()) liveBytes += b.bytes.byteLength
    return { blocks: this.held.size, liveBytes, fileBytes: liveBytes + this.wasted }
  }
}

function keyOf (cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString('base64')
}
