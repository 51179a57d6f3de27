/*
 * One pack: an append-only file of block records and its index log (formats in pack-format.ts).
 *
 * Writes are serialised in offset order and coalesced into one `writev` per turn, so the written
 * part of a pack is always a prefix of whole records; a put resolves once its record is written.
 * `sync` (fdatasync) comes before the index records that name those bytes are appended, so the
 * index never points at bytes that are not durably there. Blocks written after the last index
 * append are found again at load by scanning the tail, each checked against its multihash.
 */
import { open, readFile, rm, truncate, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import * as Digest from 'multiformats/hashes/digest'
import { equals } from 'uint8arrays/equals'
import {
  KIND_BLOCK, KIND_DELETED, PACK_MAGIC, blockHeader, decodeIndex, encodeIndexRecord, parseBlockHeader, type IndexRecord
} from './pack-format.js'

/** Buffers per writev: below IOV_MAX (1024) on Linux */
const MAX_WRITE_BUFFERS = 512
/**
 * Bytes per writev (a single larger record still goes whole). Linux's page cache sizes a write's
 * folios by the write, up to 2 MiB, and on a VM whose free memory is handed back to the host
 * (virtio-balloon free page reporting, as on the machine the benchmarks run on) the 2 MiB free
 * blocks are the reclaimed ones: each page of such a folio then costs a host fault on first
 * write. Imports coalesced up to 15 MiB per writev; capped at 1 MiB the kernel's time per
 * 288 MiB import fell from 0.38–0.77 to 0.23–0.33 s (bench/import: 0.85 against 1.11 s), and
 * 300 writevs instead of 100 cost nothing measurable.
 */
export const MAX_WRITE_BYTES = 1024 * 1024
/** A record header is at most u8 + 255-byte multihash + u32 */
const MAX_HEADER_BYTES = 1 + 255 + 4
const HASHERS = new Map<number, { digest: (bytes: Uint8Array) => Promise<Digest.Digest<number, number>> | Digest.Digest<number, number> }>([
  [sha256.code, sha256], [sha512.code, sha512]
])

export class PackDamagedError extends Error {
  static readonly NAME = 'PackDamagedError'
  override name = PackDamagedError.NAME
}

/** The pack was compacted away while a read held its old location: look the block up again */
export class PackRetiredError extends Error {
  static readonly NAME = 'PackRetiredError'
  override name = PackRetiredError.NAME
}

export interface PackedBlock {
  multihash: Uint8Array
  /** Of the block's bytes in the pack */
  offset: number
  length: number
}

export interface LoadedPack {
  pack: Pack
  /** Index records in order, plus blocks recovered from the tail (already indexed again) */
  records: IndexRecord[]
  /** What was wrong with the pack, if anything (entries past its end, a damaged tail cut off) */
  damage: string[]
}

interface PendingWrite {
  buffers: Uint8Array[]
  bytes: number
  settle: (err?: Error) => void
}

export function packFileName (seq: number): string {
  return `${String(seq).padStart(8, '0')}.pack`
}

export function packSeq (fileName: string): number | undefined {
  const match = /^(\d{8,})\.pack$/.exec(fileName)
  return match?.[1] === undefined ? undefined : Number(match[1])
}

export class Pack {
  /** Bytes reserved for records so far: where the next record goes */
  private reserved: number
  /** Every byte before this has been written */
  private written: number
  private readonly queue: PendingWrite[] = []
  private writing = false
  private failure: Error | undefined
  private indexAppends: Promise<void> = Promise.resolve()
  /** Takes no new blocks (full, or chosen for compaction) */
  private isSealed = false
  private retired = false
  /** Reads running now: a retired pack's file is closed only after the last one */
  private reading = 0
  private readsDone: (() => void) | undefined

  private constructor (
    readonly seq: number,
    readonly path: string,
    private readonly file: FileHandle,
    private readonly index: FileHandle,
    size: number
  ) {
    this.reserved = size
    this.written = size
  }

  /** A new, empty pack (fails if one with this number exists). */
  static async create (dir: string, seq: number): Promise<Pack> {
    const path = join(dir, packFileName(seq))
    const file = await open(path, 'wx+')
    try {
      await file.write(PACK_MAGIC, 0, PACK_MAGIC.byteLength, 0)
      // the pack is new, so any index under its name is stale (left by a pack moved aside): start empty
      const index = await open(indexPath(path), 'w')
      // the directory entries must survive a crash before anything in the pack is indexed
      await syncDir(dir)
      return new Pack(seq, path, file, index, PACK_MAGIC.byteLength)
    } catch (err) {
      await file.close()
      // a pack that could not be started (ENOSPC) must not block the next attempt under its number
      await rm(path, { force: true })
      throw err
    }
  }

  /** Opens an existing pack: reads its index, recovers whole verified blocks from an unindexed tail, cuts off the rest. */
  static async load (dir: string, seq: number): Promise<LoadedPack> {
    const path = join(dir, packFileName(seq))
    const file = await open(path, 'r+')
    try {
      const size = (await file.stat()).size
      const magic = Buffer.alloc(PACK_MAGIC.byteLength)
      await file.read(magic, 0, magic.byteLength, 0)
      if (!magic.equals(PACK_MAGIC)) throw new PackDamagedError(`${path} is not a pack`)
      const { records, damage } = await readIndex(path, size)
      const tailStart = records.reduce((end, r) => r.kind === KIND_BLOCK ? Math.max(end, r.offset + r.length) : end, PACK_MAGIC.byteLength)
      const tail = await scanTail(file, tailStart, size)
      if (tail.end < size) {
        damage.push(`${size - tail.end} bytes past offset ${tail.end} are not whole verified blocks: cut off`)
        await file.truncate(tail.end)
      }
      const index = await open(indexPath(path), 'a')
      const pack = new Pack(seq, path, file, index, tail.end)
      const recovered = tail.blocks.map((b): IndexRecord => ({ kind: KIND_BLOCK, ...b }))
      if (recovered.length > 0) {
        // index them now, so the next open need not scan and hash them again
        await pack.sync()
        await pack.appendIndex(() => recovered)
      }
      return { pack, records: [...records, ...recovered], damage }
    } catch (err) {
      await file.close().catch(() => {})
      throw err
    }
  }

  /** Bytes in the pack once every queued write is done */
  get size (): number {
    return this.reserved
  }

  /** A failed write leaves a hole: nothing more may be appended after it */
  get failed (): boolean {
    return this.failure !== undefined
  }

  get sealed (): boolean {
    return this.isSealed || this.failed
  }

  /** No new block goes into this pack from now on (appends already reserved complete) */
  seal (): void {
    this.isSealed = true
  }

  /** Appends one block record; resolves once it (and every record before it) is written. */
  async append (multihash: Uint8Array, block: BlockParts): Promise<PackedBlock> {
    if (this.failure !== undefined) throw this.failure
    const header = blockHeader(multihash, block.byteLength)
    const offset = this.reserved + header.byteLength
    this.reserved = offset + block.byteLength
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ buffers: [header, ...block.parts], bytes: header.byteLength + block.byteLength, settle: err => { err === undefined ? resolve() : reject(err) } })
      if (!this.writing) void this.drain()
    })
    return { multihash, offset, length: block.byteLength }
  }

  /** Makes every write done so far durable. */
  async sync (): Promise<void> {
    await this.file.datasync()
  }

  /**
   * Appends index records. `records` is called when this append's turn comes (appends are
   * serialised), so it can leave out blocks deleted in the meantime. No fsync: a lost index
   * record is found again by the tail scan, or is a lost delete (a valid block comes back).
   */
  async appendIndex (records: () => IndexRecord[]): Promise<void> {
    const append = this.indexAppends.then(async () => {
      const list = records()
      if (list.length === 0) return
      const bytes = Buffer.concat(list.map(encodeIndexRecord))
      const { bytesWritten } = await this.index.write(bytes)
      if (bytesWritten !== bytes.byteLength) throw new Error(`short write to ${indexPath(this.path)}`)
    })
    this.indexAppends = append.catch(() => {})
    await append
  }

  async read (offset: number, length: number): Promise<Buffer> {
    if (this.retired) throw new PackRetiredError(`${this.path} was compacted away`)
    this.reading++
    try {
      const bytes = Buffer.allocUnsafe(length)
      let done = 0
      while (done < length) {
        const { bytesRead } = await this.file.read(bytes, done, length - done, offset + done)
        if (bytesRead === 0) throw new PackDamagedError(`${this.path} ends before block bytes [${offset}, ${offset + length})`)
        done += bytesRead
      }
      return bytes
    } finally {
      if (--this.reading === 0) this.readsDone?.()
    }
  }

  /** Makes every index record appended so far durable (before a compaction removes the pack they replace). */
  async syncIndex (): Promise<void> {
    await this.indexAppends
    await this.index.sync()
  }

  /** The tombstones in this pack's index log (they may delete blocks of older packs) */
  async tombstones (): Promise<IndexRecord[]> {
    await this.indexAppends
    const bytes = await readFile(indexPath(this.path)).catch(() => Buffer.alloc(0))
    return decodeIndex(bytes).records.filter(r => r.kind === KIND_DELETED)
  }

  /**
   * Removes the pack's files at once and closes them after the reads running now: a reader that
   * looked a block up here before compaction moved it still gets its bytes (Linux keeps an
   * unlinked file readable through open handles).
   */
  async retire (): Promise<void> {
    this.isSealed = true
    this.retired = true
    await this.indexAppends
    await rm(this.path, { force: true })
    await rm(indexPath(this.path), { force: true })
    await syncDir(dirname(this.path))
    if (this.reading > 0) await new Promise<void>(resolve => { this.readsDone = resolve })
    await Promise.allSettled([this.file.close(), this.index.close()])
  }

  async close (): Promise<void> {
    await this.indexAppends
    await Promise.allSettled([this.file.close(), this.index.close()])
  }

  async unlink (): Promise<void> {
    await this.close()
    await rm(indexPath(this.path), { force: true })
    await rm(this.path, { force: true })
  }

  /** Writes queued records in order, as many per writev as are waiting. */
  private async drain (): Promise<void> {
    this.writing = true
    while (this.queue.length > 0) {
      const batch = takeBatch(this.queue)
      const bytes = batch.reduce((sum, w) => sum + w.bytes, 0)
      try {
        await writeAll(this.file, batch.flatMap(w => w.buffers), this.written)
        this.written += bytes
        for (const w of batch) w.settle()
      } catch (err) {
        this.failure = err as Error
        for (const w of [...batch, ...this.queue.splice(0)]) w.settle(this.failure)
      }
    }
    this.writing = false
  }
}

/** A block's bytes as the parts they came in (written as they are, in order) */
export interface BlockParts {
  readonly parts: Uint8Array[]
  readonly byteLength: number
}

export function blockParts (parts: Uint8Array[]): BlockParts {
  return { parts, byteLength: parts.reduce((sum, part) => sum + part.byteLength, 0) }
}

export function indexPath (packPath: string): string {
  return packPath.replace(/\.pack$/, '.idx')
}

/** The writes at the queue's head that fit one writev (at least one, whatever its size). */
function takeBatch (queue: PendingWrite[]): PendingWrite[] {
  let buffers = 0
  let bytes = 0
  let n = 0
  for (const w of queue) {
    if (n > 0 && (buffers + w.buffers.length > MAX_WRITE_BUFFERS || bytes + w.bytes > MAX_WRITE_BYTES)) break
    buffers += w.buffers.length
    bytes += w.bytes
    n++
  }
  return queue.splice(0, n)
}

/** writev until every byte is written (a regular file may take fewer bytes only on errors such as ENOSPC). */
async function writeAll (file: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  let rest = buffers
  while (rest.length > 0) {
    const { bytesWritten } = await file.writev(rest, position)
    if (bytesWritten === 0) throw new Error('pack write made no progress')
    position += bytesWritten
    let skip = bytesWritten
    while (rest.length > 0 && skip >= (rest[0]?.byteLength ?? 0)) skip -= rest.shift()?.byteLength ?? 0
    if (skip > 0 && rest[0] !== undefined) rest = [rest[0].subarray(skip), ...rest.slice(1)]
  }
}

async function syncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** The index's intact records, less any that point past the end of the pack (a truncated pack). */
async function readIndex (packPath: string, packSize: number): Promise<{ records: IndexRecord[], damage: string[] }> {
  const bytes = await readFile(indexPath(packPath)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return Buffer.alloc(0)
    throw err
  })
  const { records, validBytes } = decodeIndex(bytes)
  const damage: string[] = []
  if (validBytes < bytes.byteLength) {
    damage.push(`index has ${bytes.byteLength - validBytes} torn or damaged bytes at its end: cut off`)
    // records appended later must not follow bytes that stop every reader
    await truncate(indexPath(packPath), validBytes)
  }
  const inside = records.filter(r => r.kind !== KIND_BLOCK || r.offset + r.length <= packSize)
  if (inside.length < records.length) damage.push(`pack is truncated: ${records.length - inside.length} indexed blocks lie past its end (${packSize} bytes)`)
  return { records: inside, damage }
}

/** Whole block records from `start` whose bytes match their multihash; stops at the first that is not. */
async function scanTail (file: FileHandle, start: number, size: number): Promise<{ blocks: PackedBlock[], end: number }> {
  const blocks: PackedBlock[] = []
  let at = start
  while (at < size) {
    const head = Buffer.alloc(Math.min(MAX_HEADER_BYTES, size - at))
    await file.read(head, 0, head.byteLength, at)
    const parsed = parseBlockHeader(head, 0)
    if (parsed === undefined) break
    const offset = at + parsed.offset
    if (offset + parsed.length > size) break
    const bytes = Buffer.alloc(parsed.length)
    await file.read(bytes, 0, bytes.byteLength, offset)
    if (!await matches(parsed.multihash, bytes)) break
    blocks.push({ multihash: Uint8Array.prototype.slice.call(parsed.multihash), offset, length: parsed.length })
    at = offset + parsed.length
  }
  return { blocks, end: at }
}

async function matches (multihash: Uint8Array, bytes: Uint8Array): Promise<boolean> {
  let expected: Digest.Digest<number, number>
  try {
    expected = Digest.decode(multihash) as Digest.Digest<number, number>
  } catch {
    return false
  }
  // a hash we cannot check is not trusted after a crash
  const hasher = HASHERS.get(expected.code)
  if (hasher === undefined) return false
  return equals((await hasher.digest(bytes)).bytes, multihash)
}
