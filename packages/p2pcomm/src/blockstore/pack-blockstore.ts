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
 * every block of a pack is deleted, when the pack is removed at the next open.
 */
import { mkdir, readdir, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { NotFoundError, PutFailedError } from 'interface-store'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { FileBlockstore } from '../blockstore.js'
import { KIND_BLOCK, KIND_DELETED, MAX_MULTIHASH_BYTES, type IndexRecord } from './pack-format.js'
import { Pack, PackDamagedError, indexPath, packFileName, packSeq, type LoadedPack, type PackedBlock } from './pack.js'
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
}

interface Location {
  pack: Pack
  offset: number
  length: number
}

interface Uncommitted {
  key: string
  multihash: Uint8Array
  location: Location
}

const DEFAULT_MAX_PACK_BYTES = 1024 * 1024 * 1024
const DEFAULT_COMMIT_DELAY_MS = 200
const DEFAULT_COMMIT_BYTES = 64 * 1024 * 1024

export class PackBlockstore implements Blockstore {
  private readonly dir: string
  private readonly index = new Map<string, Location>()
  private readonly packs: Pack[] = []
  private active: Promise<Pack> | undefined
  private uncommitted: Uncommitted[] = []
  private uncommittedBytes = 0
  private commitTimer: NodeJS.Timeout | undefined
  private commits: Promise<void> = Promise.resolve()
  /** blockstore-fs files from before packs, when the directory has any */
  private legacy: FileBlockstore | undefined
  private readonly maxPackBytes: number
  private readonly commitDelayMs: number
  private readonly commitBytes: number

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
    await this.commit()
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
    const block = await whole(bytes)
    let pack: Pack
    let location: Location
    try {
      let appended: Promise<PackedBlock> | undefined
      do {
        pack = await this.writablePack()
        // checked and reserved in one synchronous step, so concurrent puts cannot overfill a pack
        if (this.accepts(pack)) appended = pack.append(multihash, block)
      } while (appended === undefined)
      const written = await appended
      location = { pack, offset: written.offset, length: written.length }
    } catch (err) {
      throw new PutFailedError(String(err))
    }
    const key = keyOf(multihash)
    this.index.set(key, location)
    this.uncommitted.push({ key, multihash, location })
    this.scheduleCommit(block.byteLength)
    return cid
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) yield await this.put(cid, bytes, options)
  }

  async * get (cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    options?.signal?.throwIfAborted()
    const location = this.index.get(keyOf(cid.multihash.bytes))
    if (location === undefined) {
      if (this.legacy === undefined) throw new NotFoundError(`block ${cid.toString()} not found`)
      yield * this.legacy.get(cid, options)
      return
    }
    yield await readBlock(location, cid)
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid, options) }
  }

  async delete (cid: CID, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const multihash = cid.multihash.bytes
    const key = keyOf(multihash)
    if (this.index.delete(key)) {
      const latest = await this.active?.catch(() => undefined) ?? this.packs.at(-1)
      await latest?.appendIndex(() => [{ kind: KIND_DELETED, multihash, offset: 0, length: 0 }])
    }
    await this.legacy?.delete(cid, options)
  }

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid, options)
      yield cid
    }
  }

  async * getAll (options?: AbortOptions): AsyncGenerator<Pair> {
    for (const [key, location] of [...this.index]) {
      options?.signal?.throwIfAborted()
      // as blockstore-fs: only the multihash is kept, so blocks come back as raw CIDs
      const cid = CID.createV1(raw.code, Digest.decode(Buffer.from(key, 'base64')))
      yield { cid, bytes: (async function * () { yield await readBlock(location, cid) })() }
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
    this.commits = run.catch(err => { this.init.log?.warn({ err: (err as Error).message }, 'block pack commit failed; blocks stay in memory until restart, when the tail scan finds them') })
    await run
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
    const seq = Math.max(0, ...this.packs.map(p => p.seq)) + 1
    const opening = Pack.create(this.dir, seq)
    this.active = opening
    opening.catch(() => { if (this.active === opening) this.active = undefined })
    return opening
  }

  private apply (pack: Pack, record: IndexRecord): void {
    const key = keyOf(record.multihash)
    if (record.kind === KIND_BLOCK) this.index.set(key, { pack, offset: record.offset, length: record.length })
    else this.index.delete(key)
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

/** As blockstore-fs: a block that cannot be read is a block we do not have. */
async function readBlock (location: Location, cid: CID): Promise<Uint8Array> {
  try {
    return await location.pack.read(location.offset, location.length)
  } catch (err) {
    throw new NotFoundError(`block ${cid.toString()}: ${(err as Error).message}`)
  }
}

function keyOf (multihash: Uint8Array): string {
  return Buffer.from(multihash.buffer, multihash.byteOffset, multihash.byteLength).toString('base64')
}

async function whole (bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  if (bytes instanceof Uint8Array) return bytes
  const parts: Uint8Array[] = []
  for await (const part of bytes) parts.push(part)
  return parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts)
}
