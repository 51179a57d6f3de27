/*
 * Provider records: what this node holds, announced on the DHT so that any IPFS peer of the network
 * (another DistroMash node's bitswap, a Kubo) can find it by CID, not only over a direct connection.
 *
 * What is announced for a pin: its root, and for a recursive pin of a UnixFS directory every
 * directory and file inside it (for an OCI layout: the layout, its blobs directories and each
 * blob), but never a file's inner chunks. That is Kubo's question: `ipfs get <root>` and
 * `ipfs get <root>/blobs/sha256/<hex>` look up the CID they start from, then fetch the rest from
 * whoever answers. Chunk-level records would be hundreds per image, for lookups nobody makes.
 *
 * kad-dht keeps the announcements in the node's datastore and re-announces them before they
 * expire (its reprovider: records valid 48 h, renewed within 24 h of expiry, across restarts too);
 * a withdrawn pin stops being re-announced (records already placed expire on their own).
 */
import * as dagPb from '@ipld/dag-pb'
import type { Libp2p } from '@libp2p/interface'
import { UnixFS } from 'ipfs-unixfs'
import type { Blockstore } from 'interface-blockstore'
import type { AddOptions, Pins, RmOptions } from 'helia'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import type { Logger } from 'pino'

export interface ProvidersInit {
  libp2p: Pick<Libp2p, 'contentRouting'>
  /** The node's own blocks: directories are read from here, never fetched */
  blockstore: Pick<Blockstore, 'get' | 'has'>
  log: Logger
  /** DHT announcements running at once (each is a walk to the 20 closest peers) */
  concurrency?: number
  /**
   * While this says so, no announcement starts (they wait, checked every YIELD_RECHECK_MS, for at
   * most MAX_YIELD_MS at a time): e.g. while the node moves image blocks. A seed announced the blobs its replication pinned as a
   * rollout began, and the DHT walks and the peer records they update took a fifth of its CPU,
   * and its peers', when their first block requests waited for it (bench/distribution).
   */
  yieldTo?: () => boolean
}

export interface ProviderStats {
  /** CIDs announced since start */
  announced: number
  /** Announcements that failed (no DHT peer reachable, a timeout); kad-dht retries them on its schedule */
  failed: number
  /** Waiting for their turn */
  queued: number
}

const DEFAULT_CONCURRENCY = 4
const YIELD_RECHECK_MS = 1_000
/** A rollout of a large image takes about this long at 100 Mbit/s; announcements wait no longer */
const MAX_YIELD_MS = 120_000
/** Announcements waiting at once; more are dropped (logged): the reprovider still has them once made */
const MAX_QUEUED = 100_000

export class Providers {
  private readonly queue: CID[] = []
  private readonly queued = new Set<string>()
  /**
   * Pins announcing each CID. A CID is announced when its first pin comes and withdrawn when its
   * last goes: a seed assigned the image it imported pinned each blob again, and announced them
   * again as the rollout began (DHT walks, and the peer records they update, on a seed whose main
   * thread was busy for the whole first 2 s: bench/distribution, profiled per node). Counted from
   * this start: after a restart kad-dht's reprovider holds what earlier pins announced, and a
   * pin made again announces once more.
   */
  private readonly pinCounts = new Map<string, number>()
  private running = 0
  private announced = 0
  private failed = 0
  private stopped = false
  private readonly concurrency: number
  private recheck?: ReturnType<typeof setTimeout>
  private yieldingSince?: number

  constructor (private readonly init: ProvidersInit) {
    this.concurrency = init.concurrency ?? DEFAULT_CONCURRENCY
  }

  /** Queue announcements for what pinning `root` holds; returns once the CIDs are known, not announced */
  async announce (root: CID, options: { recursive: boolean }): Promise<void> {
    for await (const cid of announceable(root, this.init.blockstore, options.recursive)) {
      const key = cid.toString()
      const pins = this.pinCounts.get(key) ?? 0
      // one the queue had no room for is not counted: the next pin of it tries again
      if (pins === 0 && !this.enqueue(cid)) continue
      this.pinCounts.set(key, pins + 1)
    }
    this.drain()
  }

  /** Stop re-announcing what `announce(root)` announced; call it before the blocks may go */
  async withdraw (root: CID, options: { recursive: boolean }): Promise<void> {
    for await (const cid of announceable(root, this.init.blockstore, options.recursive)) {
      const key = cid.toString()
      const pins = (this.pinCounts.get(key) ?? 1) - 1
      // another pin still holds it: it stays announced
      if (pins > 0) {
        this.pinCounts.set(key, pins)
        continue
      }
      this.pinCounts.delete(key)
      this.queued.delete(key)
      await this.init.libp2p.contentRouting.cancelReprovide(cid).catch(() => {})
    }
  }

  stats (): ProviderStats {
    return { announced: this.announced, failed: this.failed, queued: this.queue.length }
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.recheck)
    this.queue.length = 0
    this.queued.clear()
    this.pinCounts.clear()
  }

  /** False when the queue had no room for it */
  private enqueue (cid: CID): boolean {
    const key = cid.toString()
    if (this.queued.has(key)) return true
    if (this.queue.length >= MAX_QUEUED) {
      this.init.log.warn({ cid: key }, 'provider queue full: not announced now (kad-dht re-announces what it was given)')
      return false
    }
    this.queued.add(key)
    this.queue.push(cid)
    return true
  }

  private drain (): void {
    if (this.mustYield()) {
      this.recheck ??= setTimeout(() => { this.recheck = undefined; this.drain() }, YIELD_RECHECK_MS)
      return
    }
    while (!this.stopped && this.running < this.concurrency && this.queue.length > 0) {
      const cid = this.queue.shift()
      if (cid == null) break
      // withdrawn while waiting
      if (!this.queued.has(cid.toString())) continue
      this.running++
      void this.provide(cid).finally(() => {
        this.running--
        this.queued.delete(cid.toString())
        this.drain()
      })
    }
  }

  private mustYield (): boolean {
    if (this.queue.length === 0 || this.init.yieldTo?.() !== true) {
      this.yieldingSince = undefined
      return false
    }
    this.yieldingSince ??= Date.now()
    return Date.now() - this.yieldingSince < MAX_YIELD_MS
  }

  private async provide (cid: CID): Promise<void> {
    try {
      await this.init.libp2p.contentRouting.provide(cid, { signal: AbortSignal.timeout(120_000) })
      this.announced++
    } catch (err) {
      // the record is kept locally (peers asking this node still get it) and re-announced later
      this.failed++
      this.init.log.debug({ cid: cid.toString(), err: (err as Error).message }, 'provider announcement failed')
    }
  }
}

/**
 * The CIDs a pin of `root` makes this node a provider of: the root and, recursively, every UnixFS
 * directory (HAMT shards included) and file below it, held here. A file's chunks are not.
 */
export async function * announceable (root: CID, blockstore: Pick<Blockstore, 'get' | 'has'>, recursive: boolean): AsyncGenerator<CID> {
  yield root
  if (!recursive) return
  const dirs = [root]
  for (let dir = dirs.pop(); dir != null; dir = dirs.pop()) {
    for (const link of await directoryLinks(dir, blockstore)) {
      yield link.cid
      if (link.directory) dirs.push(link.cid)
    }
  }
}

/** The links of a UnixFS directory or HAMT shard held here (none for anything else) */
async function directoryLinks (cid: CID, blockstore: Pick<Blockstore, 'get' | 'has'>): Promise<Array<{ cid: CID, directory: boolean }>> {
  if (cid.code !== dagPb.code || !await blockstore.has(cid)) return []
  const node = dagPb.decode(await readBlock(blockstore, cid))
  if (node.Data == null || !isDirectory(UnixFS.unmarshal(node.Data).type)) return []
  const links: Array<{ cid: CID, directory: boolean }> = []
  for (const link of node.Links) {
    const child = CID.asCID(link.Hash) ?? link.Hash
    if (child.code === raw.code) {
      links.push({ cid: child, directory: false })
    } else if (child.code === dagPb.code && await blockstore.has(child)) {
      const data = dagPb.decode(await readBlock(blockstore, child)).Data
      links.push({ cid: child, directory: data != null && isDirectory(UnixFS.unmarshal(data).type) })
    }
  }
  return links
}

async function readBlock (blockstore: Pick<Blockstore, 'get'>, cid: CID): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of blockstore.get(cid)) chunks.push(chunk)
  return chunks.length === 1 && chunks[0] != null ? chunks[0] : Buffer.concat(chunks)
}

function isDirectory (type: string): boolean {
  return type === 'directory' || type === 'hamt-sharded-directory'
}

/** `pins` that announce what they pin and withdraw what they unpin */
export function providingPins (pins: Pins, providers: Providers): Pins {
  const recursive = (options?: AddOptions): boolean => options?.depth == null || options.depth === Infinity
  return {
    ...pins,
    add: async function * (cid: CID, options?: AddOptions) {
      yield * pins.add(cid, options)
      await providers.announce(cid, { recursive: recursive(options) })
    },
    rm: async function * (cid: CID, options?: RmOptions) {
      const pin = await pins.get(cid, options).catch(() => undefined)
      if (pin != null) await providers.withdraw(cid, { recursive: pin.depth === Infinity })
      yield * pins.rm(cid, options)
    },
    ls: options => pins.ls(options),
    isPinned: async (cid, options) => await pins.isPinned(cid, options),
    get: async (cid, options) => await pins.get(cid, options),
    setMetadata: async (cid, metadata, options) => { await pins.setMetadata(cid, metadata, options) }
  }
}
