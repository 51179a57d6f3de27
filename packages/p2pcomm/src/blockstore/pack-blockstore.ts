/*
 * The node's blockstore: blocks appended to a few large pack files, found through an in-memory
 * index (multihash → pack, offset, length) rebuilt from the packs' index logs at open.
 *
 *   blocks/
 *   ├── packs/00000001.pack   block records, ≤ maxPackBytes each; the highest number takes new blocks
 *   ├── packs/00000001.idx    index log of that pack (and tombstones of deleted blocks)
 *   └── <shard>/<key>.data    blocks written by blockstore-fs before packs: still read, never written
 *
 * Why: a 288 MiB import is ~1160 blocks of 256 KiB. As one file each (temp file, rename, sharded
 * directories) the syscalls dominated the import; appended to a pack they are one coalesced writev
 * per batch. Reads are one pread on an open file instead of open, fstat, read, close.
 *
 * Durability: a put resolves once its record is written (as blockstore-fs: the OS has the bytes).
 * Within `commitDelayMs` (or sooner, after `commitBytes`) the pack is fdatasync'd and only then
 * are the blocks' index records appended. So an index record never names bytes that are not on
 * disk; after a crash the blocks written since the last commit are recovered by scanning the
 * pack's tail, each checked against its multihash, and anything after the first block that does
 * not check out is cut off.
 *
 * Deletes drop the block from the index and append a tombstone; the bytes stay in the pack until
 * every block of a pack is deleted, when the pack is removed at the next open, or until `compact`
 * rewrites it.
 *
 * Compaction (online, crash-safe): the pack is sealed (no new block goes in), its appends still
 * running are awaited, and every block it still holds is appended to the writable pack as any new
 * block is; the index switches to the copy once the copy is written. Then the copies are
 * fdatasync'd and indexed, the index logs fsync'd, the pack's tombstones carried forward when an
 * older pack may still hold what they delete, and only then is the pack unlinked. Killed at any
 * point before the unlink, the old pack still holds every block with its index; after it, the
 * copies are durable and indexed. Reads that looked a block up in the old pack still read it
 * (the open handle outlives the unlink) or look it up again.
 */
import { mkdir, readdir, rename } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { NotFoundError, PutFailedError } from 'interface-store'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { FileBlockstore } from '../blockstore.js'
import { DiskFullError, isNoSpace } from '../disk/errors.js'
import type { BlockUsage, CollectableBlockstore, CompactionReport, CompactOptions, RemoveOptions, StoredBlock } from '../disk/collectable.js'
import { KIND_BLOCK, KIND_DELETED, MAX_MULTIHASH_BYTES, PACK_MAGIC, type IndexRecord } from './pack-format.js'
import { Pack, PackDamagedError, PackRetiredError, blockParts, indexPath, packFileName, packSeq, type BlockParts, type LoadedPack } from './pack.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'

export interface PackBlockstoreInit {
  /** A new pack is started once the current one is this large (default 1 GiB) */
  maxPackBytes?: number
  /** Written blocks are made durable and indexed at most this long after (default 200 ms) … */
  commitDelayMs?: number
  /** … or as soon as this many bytes wait (default 64 MiB) */
  commitBytes?: number
  /** Told about damaged packs found at open */
  log?: { warn: (obj: object, msg: string) => void }
  /** Asked before every new block (not before compaction's copies): throws DiskFullError to refuse it */
  admit?: (bytes: number) => void
}

interface Location {
  pack: Pack
  offset: number
  length: number
  /** Date.now() of the put (or of the last touch), 0 for blocks found at open */
  writtenAt: number
}

interface Uncommitted {
  key: string
  multihash: Uint8Array
  location: Location
}

const DEFAULT_MAX_PACK_BYTES = 1024 * 1024 * 1024
const DEFAULT_COMMIT_DELAY_MS = 200
/** A failed commit (a full disk) is tried again this often until one succeeds */
const COMMIT_RETRY_MS = 5000
const DEFAULT_COMMIT_BYTES = 64 * 1024 * 1024
const DEFAULT_MIN_GARBAGE_RATIO = 0.25
/** Blocks copied at once by a compaction: enough to fill a writev, few enough to keep reads going */
const RELOCATE_BATCH = 32
/** u8 multihash length + a sha256 multihash (34 bytes) + u32 length: the usual record header */
const RECORD_HEADER_BYTES = 39

export class PackBlockstore implements Blockstore, CollectableBlockstore {
  private readonly dir: string
  private readonly index = new Map<string, Location>()
  private readonly packs: Pack[] = []
  private active: Promise<Pack> | undefined
  private uncommitted: Uncommitted[] = []
  private uncommittedBytes = 0
  private commitFailing = false
  private commitTimer: NodeJS.Timeout | undefined
  private commits: Promise<void> = Promise.resolve()
  /** blockstore-fs files from before packs, when the directory has any */
  private legacy: FileBlockstore | undefined
  private readonly maxPackBytes: number
  private readonly commitDelayMs: number
  private readonly commitBytes: number
  /** The writable pack once open, for usage() */
  private current: Pack | undefined
  /**
   * Bytes of the appends reserved in a pack and not yet indexed: a compaction waits for them, and
   * does not take them for garbage
   */
  private readonly appending = new Map<Pack, number>()
  /** The pack a compaction is rewriting: tombstones go elsewhere */
  private compacting: Pack | undefined

  constructor (readonly path: string, private readonly init: PackBlockstoreInit = {}) {
    this.dir = join(path, 'packs')
    this.maxPackBytes = init.maxPackBytes ?? DEFAULT_MAX_PACK_BYTES
    this.commitDelayMs = init.commitDelayMs ?? DEFAULT_COMMIT_DELAY_MS
    this.commitBytes = init.commitBytes ?? DEFAULT_COMMIT_BYTES
  }

  async open (): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    if ((await readdir(this.path)).some(name => name !== 'packs')) {
      this.legacy = new FileBlockstore(this.path)
      await this.legacy.open()
    }
    const seqs = (await readdir(this.dir)).map(packSeq).filter((s): s is number => s !== undefined).sort((a, b) => a - b)
    const keep = new Set<Pack>()
    for (const seq of seqs) {
      const loaded = await this.load(seq)
      if (loaded === undefined) continue
      const { pack, records } = loaded
      this.packs.push(pack)
      for (const record of records) this.apply(pack, record)
      if (records.some(r => r.kind === KIND_DELETED)) keep.add(pack)
    }
    await this.removeDeadPacks(keep)
  }

  /** A pack and its records; a file that is not a pack at all is renamed aside (`.damaged`) and skipped. */
  private async load (seq: number): Promise<LoadedPack | undefined> {
    try {
      const loaded = await Pack.load(this.dir, seq)
      if (loaded.damage.length > 0) this.init.log?.warn({ pack: loaded.pack.path, damage: loaded.damage }, 'damaged block pack: kept the blocks that check out')
      return loaded
    } catch (err) {
      if (!(err instanceof PackDamagedError)) throw err
      const path = join(this.dir, packFileName(seq))
      this.init.log?.warn({ pack: path, err: err.message }, 'not a block pack: moved aside')
      await rename(path, `${path}.damaged`)
      // its index must not be read as the index of a new pack with the same number
      await rename(indexPath(path), `${indexPath(path)}.damaged`).catch(() => {})
      return undefined
    }
  }

  async close (): Promise<void> {
    // a commit that fails here (full disk) is logged; the files are closed all the same
    await this.commit().catch(() => {})
    clearTimeout(this.commitTimer)
    this.commitTimer = undefined
    const active = await this.active?.catch(() => undefined)
    await Promise.all([...this.packs, ...(active === undefined ? [] : [active])].map(async p => { await p.close() }))
    this.packs.length = 0
    this.active = undefined
    this.index.clear()
    await this.legacy?.close()
  }

  /** Blocks indexed in the packs and their bytes (blockstore-fs files from before packs not counted) */
  stats (): { blocks: number, bytes: number } {
    let bytes = 0
    for (const location of this.index.values()) bytes += location.length
    return { blocks: this.index.size, bytes }
  }

  async has (cid: CID, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    if (this.index.has(keyOf(cid.multihash.bytes))) return true
    return await this.legacy?.has(cid, options) ?? false
  }

  async put (cid: CID, bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options?: AbortOptions): Promise<CID> {
    options?.signal?.throwIfAborted()
    const multihash = cid.multihash.bytes
    if (multihash.byteLength > MAX_MULTIHASH_BYTES) throw new PutFailedError(`multihash of ${cid.toString()} is over ${MAX_MULTIHASH_BYTES} bytes`)
    const block = await partsOf(bytes)
    try {
      this.init.admit?.(block.byteLength)
      await this.appendBlock(multihash, block, Date.now(), () => true)
    } catch (err) {
      if (err instanceof DiskFullError) throw err
      if (isNoSpace(err)) throw new DiskFullError(`disk full: no space left on the device of ${this.path} (${(err as Error).message})`)
      throw new PutFailedError(String(err))
    }
    this.scheduleCommit(block.byteLength)
    return cid
  }

  /**
   * Appends a block to the writable pack and indexes it once written, unless `keep` says no by
   * then (a compaction's copy of a block deleted or written again meanwhile).
   */
  private async appendBlock (multihash: Uint8Array, block: BlockParts, writtenAt: number, keep: () => boolean): Promise<Location | undefined> {
    let pack: Pack
    let appended
    const inFlight = block.byteLength + RECORD_HEADER_BYTES
    do {
      pack = await this.writablePack()
      // checked, reserved and counted in one synchronous step: concurrent puts cannot overfill a
      // pack, and a compaction sealing it sees every append it must wait for
      if (this.accepts(pack)) {
        appended = pack.append(multihash, block)
        this.appending.set(pack, (this.appending.get(pack) ?? 0) + inFlight)
      }
    } while (appended === undefined)
    try {
      const written = await appended
      if (!keep()) return undefined
      const location: Location = { pack, offset: written.offset, length: written.length, writtenAt }
      const key = keyOf(multihash)
      this.index.set(key, location)
      this.uncommitted.push({ key, multihash, location })
      return location
    } finally {
      const left = (this.appending.get(pack) ?? inFlight) - inFlight
      if (left <= 0) this.appending.delete(pack)
      else this.appending.set(pack, left)
    }
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) yield await this.put(cid, bytes, options)
  }

  async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    options?.signal?.throwIfAborted()
    const key = keyOf(cid.multihash.bytes)
    if (!this.index.has(key)) {
      if (this.legacy === undefined) throw new NotFoundError(`block ${cid.toString()} not found`)
      yield * this.legacy.get(cid, options)
      return
    }
    yield await this.readIndexed(key, cid)
  }

  /** As blockstore-fs: a block that cannot be read is a block we do not have. A block compacted away meanwhile is looked up again. */
  private async readIndexed (key: string, cid: CID): Promise<Uint8Array> {
    for (;;) {
      const location = this.index.get(key)
      if (location === undefined) throw new NotFoundError(`block ${cid.toString()} not found`)
      try {
        return await location.pack.read(location.offset, location.length)
      } catch (err) {
        if (err instanceof PackRetiredError && this.index.get(key) !== location) continue
        throw new NotFoundError(`block ${cid.toString()}: ${(err as Error).message}`)
      }
    }
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid, options) }
  }

  async delete (cid: CID, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const multihash = cid.multihash.bytes
    const key = keyOf(multihash)
    if (this.index.delete(key)) {
      await (await this.tombstonePack())?.appendIndex(() => [{ kind: KIND_DELETED, multihash, offset: 0, length: 0 }])
    }
    await this.legacy?.delete(cid, options)
  }

  /** The newest pack, which outlives every pack a tombstone may delete from; never one being compacted away */
  private async tombstonePack (): Promise<Pack | undefined> {
    const active = await this.active?.catch(() => undefined)
    if (active !== undefined && active !== this.compacting) return active
    return this.packs.filter(p => p !== this.compacting).at(-1)
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid, options)
      yield cid
    }
  }

  async * getAll (options?: AbortOptions): AsyncGenerator<Pair> {
    for (const key of [...this.index.keys()]) {
      options?.signal?.throwIfAborted()
      if (!this.index.has(key)) continue
      // as blockstore-fs: only the multihash is kept, so blocks come back as raw CIDs
      const cid = cidOf(key)
      const read = async (): Promise<Uint8Array> => await this.readIndexed(key, cid)
      yield { cid, bytes: (async function * () { yield await read() })() }
    }
    if (this.legacy === undefined) return
    for await (const pair of this.legacy.getAll(options)) {
      if (!this.index.has(keyOf(pair.cid.multihash.bytes))) yield pair
    }
  }

  /** Makes every block written so far durable and indexed. */
  async commit (): Promise<void> {
    clearTimeout(this.commitTimer)
    this.commitTimer = undefined
    const batch = this.uncommitted
    this.uncommitted = []
    this.uncommittedBytes = 0
    const run = this.commits.then(async () => { await this.commitBatch(batch) })
    this.commits = run.then(() => { this.commitFailing = false }, err => { this.commitFailed(batch, err as Error) })
    await run
  }

  /**
   * The batch waits for the next commit, retried every COMMIT_RETRY_MS: dropping it lost its
   * blocks at the next restart, as blocks written after it into the same pack were indexed past
   * them and the tail scan starts after the last indexed block (a full disk failing one index
   * append was enough). Logged once per run of failures.
   */
  private commitFailed (batch: Uncommitted[], err: Error): void {
    this.uncommitted.unshift(...batch)
    this.commitTimer ??= setTimeout(() => { void this.commit().catch(() => {}) }, COMMIT_RETRY_MS).unref()
    if (!this.commitFailing) this.init.log?.warn({ err: err.message, blocks: this.uncommitted.length }, `block pack commit failed; retried every ${COMMIT_RETRY_MS / 1000} s`)
    this.commitFailing = true
  }

  private async commitBatch (batch: Uncommitted[]): Promise<void> {
    for (const pack of new Set(batch.map(b => b.location.pack))) {
      await pack.sync()
      // blocks deleted (or written again elsewhere) since their put are not indexed
      await pack.appendIndex(() => batch
        .filter(b => b.location.pack === pack && this.index.get(b.key) === b.location)
        .map((b): IndexRecord => ({ kind: KIND_BLOCK, multihash: b.multihash, offset: b.location.offset, length: b.location.length })))
    }
  }

  private scheduleCommit (bytes: number): void {
    this.uncommittedBytes += bytes
    if (this.uncommittedBytes >= this.commitBytes) {
      void this.commit().catch(() => {}) // logged in commit()
      return
    }
    this.commitTimer ??= setTimeout(() => { void this.commit().catch(() => {}) }, this.commitDelayMs).unref()
  }

  /** The pack taking new blocks: a fresh one after open, and again when full or after a failed write. */
  private async writablePack (): Promise<Pack> {
    const opening = this.active ?? this.startPack()
    const pack = await opening
    // the first caller to find it full starts the next one; the others get that one
    if (this.accepts(pack) || this.active !== opening) return pack
    this.packs.push(pack)
    return this.startPack()
  }

  private accepts (pack: Pack): boolean {
    return !pack.failed && pack.size < this.maxPackBytes
  }

  private startPack (): Promise<Pack> {
    const seq = Math.max(0, ...this.packs.map(p => p.seq), this.current?.seq ?? 0) + 1
    const opening = Pack.create(this.dir, seq)
    this.active = opening
    opening.then(pack => { this.current = pack }, () => { if (this.active === opening) this.active = undefined })
    return opening
  }

  private apply (pack: Pack, record: IndexRecord): void {
    const key = keyOf(record.multihash)
    if (record.kind === KIND_BLOCK) this.index.set(key, { pack, offset: record.offset, length: record.length, writtenAt: 0 })
    else this.index.delete(key)
  }

  * blocks (): Generator<StoredBlock> {
    for (const [key, location] of [...this.index]) yield { cid: cidOf(key), length: location.length, writtenAt: location.writtenAt }
  }

  touch (cid: CID): void {
    const location = this.index.get(keyOf(cid.multihash.bytes))
    if (location !== undefined) location.writtenAt = Date.now()
  }

  /** Deletes in one index append (a collection removes thousands of blocks) */
  async remove (cids: CID[], options: RemoveOptions = {}): Promise<{ blocks: number, bytes: number }> {
    const gone: IndexRecord[] = []
    let bytes = 0
    for (const cid of cids) {
      const key = keyOf(cid.multihash.bytes)
      const location = this.index.get(key)
      if (location === undefined || location.writtenAt >= (options.writtenBefore ?? Infinity)) continue
      this.index.delete(key)
      bytes += location.length
      gone.push({ kind: KIND_DELETED, multihash: cid.multihash.bytes, offset: 0, length: 0 })
    }
    if (gone.length > 0) await (await this.tombstonePack())?.appendIndex(() => gone)
    return { blocks: gone.length, bytes }
  }

  countsFile (path: string): boolean {
    return dirname(path) === this.dir && packSeq(basename(path)) !== undefined
  }

  usage (): BlockUsage {
    const packs = new Set([...this.packs, ...(this.current === undefined ? [] : [this.current])])
    let fileBytes = 0
    for (const pack of packs) fileBytes += pack.size
    const { blocks, bytes } = this.stats()
    return { blocks, liveBytes: bytes, fileBytes }
  }

  /** Rewrites, one at a time, the packs where removed blocks take at least `minGarbageRatio` (the writable one too: it is sealed first). */
  async compact (options: CompactOptions = {}): Promise<CompactionReport> {
    const total: CompactionReport = { packs: 0, relocatedBlocks: 0, relocatedBytes: 0, reclaimedBytes: 0 }
    if (this.compacting !== undefined) return total
    for (const pack of this.wasteful(options)) {
      options.signal?.throwIfAborted()
      const report = await this.compactPack(pack, options.signal)
      options.onPack?.(report)
      for (const k of Object.keys(total) as Array<keyof CompactionReport>) total[k] += report[k]
    }
    return total
  }

  /** Packs worth rewriting, oldest first */
  private wasteful (options: CompactOptions): Pack[] {
    const held = new Map<Pack, number>()
    for (const l of this.index.values()) held.set(l.pack, (held.get(l.pack) ?? 0) + l.length + RECORD_HEADER_BYTES)
    // a block being written is not garbage yet: a pack taking a push would otherwise look wasteful
    for (const [pack, bytes] of this.appending) held.set(pack, (held.get(pack) ?? 0) + bytes)
    const packs = [...new Set([...this.packs, ...(this.current === undefined ? [] : [this.current])])]
    return packs.filter(pack => {
      const garbage = pack.size - PACK_MAGIC.byteLength - (held.get(pack) ?? 0)
      return garbage > 0 && garbage >= (options.minGarbageBytes ?? 0) && garbage >= (options.minGarbageRatio ?? DEFAULT_MIN_GARBAGE_RATIO) * pack.size
    }).sort((a, b) => a.seq - b.seq)
  }

  private async compactPack (pack: Pack, signal?: AbortSignal): Promise<CompactionReport> {
    this.compacting = pack
    try {
      this.seal(pack)
      while ((this.appending.get(pack) ?? 0) > 0) await new Promise(resolve => setTimeout(resolve, 5))
      const moves = [...this.index].filter(([, l]) => l.pack === pack).sort(([, a], [, b]) => a.offset - b.offset)
      const targets = new Set<Pack>()
      let relocatedBytes = 0
      let relocatedBlocks = 0
      for (let i = 0; i < moves.length; i += RELOCATE_BATCH) {
        signal?.throwIfAborted()
        for (const moved of await Promise.all(moves.slice(i, i + RELOCATE_BATCH).map(async ([key, from]) => await this.relocate(key, from)))) {
          if (moved === undefined) continue
          targets.add(moved.pack)
          relocatedBytes += moved.length
          relocatedBlocks++
        }
      }
      // the copies are on disk and indexed, durably, before the only other copy goes
      await this.commit()
      for (const target of targets) await target.syncIndex()
      if ([...this.index.values()].some(l => l.pack === pack)) throw new Error(`${pack.path} still holds blocks after compaction`)
      await this.carryTombstones(pack)
      const size = pack.size
      this.packs.splice(this.packs.indexOf(pack), 1)
      if (this.current === pack) this.current = undefined
      await pack.retire()
      return { packs: 1, relocatedBlocks, relocatedBytes, reclaimedBytes: size - relocatedBytes - relocatedBlocks * RECORD_HEADER_BYTES }
    } finally {
      this.compacting = undefined
    }
  }

  /** No new block goes into the pack; the writable one is replaced at the next put */
  private seal (pack: Pack): void {
    pack.seal()
    if (this.current !== pack) return
    if (!this.packs.includes(pack)) this.packs.push(pack)
    this.active = undefined
  }

  /** Copies one block into the writable pack; undefined when it was deleted or written again meanwhile */
  private async relocate (key: string, from: Location): Promise<Location | undefined> {
    if (this.index.get(key) !== from) return undefined
    const bytes = await from.pack.read(from.offset, from.length)
    return await this.appendBlock(Buffer.from(key, 'base64'), blockParts([bytes]), from.writtenAt, () => this.index.get(key) === from)
  }

  /** Tombstones of the pack that may still delete a block of an older pack, re-logged in the newest one */
  private async carryTombstones (pack: Pack): Promise<void> {
    if (!this.packs.some(p => p.seq < pack.seq)) return
    const stones = await pack.tombstones()
    if (stones.length === 0) return
    // the writable pack: newer than every pack the tombstones may delete from
    const target = await this.writablePack()
    await target.appendIndex(() => stones.filter(s => !this.index.has(keyOf(s.multihash))))
    await target.syncIndex()
  }

  /** Packs none of whose blocks is indexed any more, unless their log holds tombstones (`keep`). */
  private async removeDeadPacks (keep: Set<Pack>): Promise<void> {
    const live = new Set<Pack>(keep)
    for (const location of this.index.values()) live.add(location.pack)
    const dead = this.packs.filter(p => !live.has(p))
    for (const pack of dead) {
      this.packs.splice(this.packs.indexOf(pack), 1)
      await pack.unlink()
    }
  }
}

function cidOf (key: string): CID {
  return CID.createV1(raw.code, Digest.decode(Buffer.from(key, 'base64')))
}

function keyOf (multihash: Uint8Array): string {
  return Buffer.from(multihash.buffer, multihash.byteOffset, multihash.byteLength).toString('base64')
}

/**
 * A block as given, in parts: written with one writev, never joined first (the block exchange
 * hands over the frames a block arrived in; joining them cost a 256 KiB copy per block).
 */
async function partsOf (bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<BlockParts> {
  if (bytes instanceof Uint8Array) return blockParts([bytes])
  const parts: Uint8Array[] = []
  for await (const part of bytes) parts.push(part)
  return blockParts(parts)
}
