import { setMaxListeners } from 'node:events'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { Uint8ArrayList } from 'uint8arraylist'
import { concat } from 'uint8arrays/concat'
import { toString } from 'uint8arrays/to-string'
import { BLOCKS_PROTOCOL, SKELETON_PROTOCOL } from '../constants.js'
import { DiskFullError } from '../disk/errors.js'
import {
  BlockRequestError, DONT_HAVE, HAVE, MAX_BATCH, MAX_BLOCK_BYTES, MAX_REQUEST_BYTES, decodeRequest, encodeRequest, verifyBlock
} from './protocol.js'
import { END_OF_SKELETON, MAX_CID_BYTES, SkeletonCheck, decodeSkeletonRequest, skeletonOf } from './skeleton.js'
import { UploadMeter } from './upload-meter.js'

export interface BlockExchangeInit {
  libp2p: Libp2p
  /** The node's own blocks: read and written here without ever touching the network */
  blockstore: Pick<Blockstore, 'get' | 'has' | 'put'>
  log: Logger
  /** How long a request for a block this node is itself fetching waits for it to arrive */
  waitWantedMs?: number
  /** How long a request for any other missing block waits (this node may be about to want it) */
  waitUnwantedMs?: number
}

export interface RequestResult {
  /** Asked-for CIDs the peer did not deliver */
  missing: CID[]
  /** The stream failed (dial, reset, timeout, bad bytes): do not ask this peer again for now */
  failed: boolean
  /** It failed before any stream was open: the peer could not be reached at all (gone, most likely) */
  unreachable?: boolean
}

export interface RequestOptions {
  signal?: AbortSignal
  /** Called after each verified block is stored */
  onBlock?: (cid: CID, bytes: number) => void
  /**
   * Ask to be answered only with upload the peer has to spare: blocks it holds, while it answers
   * no other request; "don't have" for the rest (see protocol.ts)
   */
  spare?: boolean
}

const WAIT_WANTED_MS = 30_000
const WAIT_UNWANTED_MS = 3_000
const POLL_MS = 500
const WHEN_FETCHED_POLL_MS = 2_000
/** Requests that take longer are logged (diagnostics for bench/distribution) */
const SLOW_REQUEST_MS = 10_000
/** Received blocks being stored at once per request, while the next ones are read */
const MAX_STORING = 8
/** A whole skeleton answer (a few hundred small blocks at most) must come within this */
const SKELETON_TIMEOUT_MS = 60_000
/** A spare request is answered once no other has been for this long */
const SPARE_AFTER_MS = 500
/** How long a node that answered a peer counts as serving (onlyServing) */
const SERVING_MEMORY_MS = 5_000
/** Blocks a responder reads ahead of the one it is sending */
const READ_AHEAD = 4

/**
 * /distromash/blocks/1.0.0: ask one chosen peer for a list of blocks, get them back in order.
 *
 * Why not only bitswap: Helia's bitswap sends every want to every connected peer, so when N
 * hosts replicate one image at once the seed uploads every block N times (measured: the mesh
 * was no faster than a central registry and stalled). With this protocol the fetcher decides
 * whom to ask (see swarm-fetch.ts), and a peer that is itself fetching a block holds the
 * request until the block arrives, then forwards it: blocks flow seed → one peer → the others
 * while the transfer is still running.
 *
 * Every received block is hashed against its CID before it is stored; the responder only
 * reads its local blockstore.
 */
export class BlockExchange {
  private readonly wanted = new Map<string, number>()
  private readonly waiters = new Map<string, Set<() => void>>()
  private readonly closing = new AbortController()
  private readonly waitWantedMs: number
  private readonly waitUnwantedMs: number
  private sentBytes = 0
  private receivedBytes = 0
  private receivedAt = 0
  private failedRequests = 0
  /** Requests other than spare ones being answered now, and when one last sent a block or ended */
  private answering = 0
  private answeredAt = 0
  private readonly upload = new UploadMeter()

  constructor (private readonly init: BlockExchangeInit) {
    this.waitWantedMs = init.waitWantedMs ?? WAIT_WANTED_MS
    this.waitUnwantedMs = init.waitUnwantedMs ?? WAIT_UNWANTED_MS
    // every request and response listens on it (dozens at once during a transfer)
    setMaxListeners(Infinity, this.closing.signal)
  }

  async start (): Promise<void> {
    await this.init.libp2p.handle(BLOCKS_PROTOCOL, (stream, connection) => this.respond(stream, connection), {
      maxInboundStreams: 64, runOnLimitedConnection: false
    })
    await this.init.libp2p.handle(SKELETON_PROTOCOL, (stream, connection) => this.respondSkeleton(stream, connection), {
      maxInboundStreams: 8, runOnLimitedConnection: false
    })
  }

  async stop (): Promise<void> {
    this.closing.abort(new Error('block exchange stopped'))
    for (const wake of [...this.waiters.values()].flatMap(set => [...set])) wake()
    await this.init.libp2p.unhandle(BLOCKS_PROTOCOL)
    await this.init.libp2p.unhandle(SKELETON_PROTOCOL)
  }

  stats (): { sentBytes: number, receivedBytes: number, failedRequests: number } {
    return { sentBytes: this.sentBytes, receivedBytes: this.receivedBytes, failedRequests: this.failedRequests }
  }

  /** Whether this node has a connection to the peer now (a holder without one has most likely gone) */
  connected (peer: string): boolean {
    return this.init.libp2p.getConnections(peerIdFromString(peer)).length > 0
  }

  /** Mark blocks as being fetched here, so peers asking for them wait instead of hearing "don't have" */
  want (cids: CID[]): () => void {
    const keys = cids.map(blockKey)
    for (const key of keys) this.wanted.set(key, (this.wanted.get(key) ?? 0) + 1)
    return () => {
      for (const key of keys) {
        const n = (this.wanted.get(key) ?? 1) - 1
        if (n > 0) { this.wanted.set(key, n); continue }
        this.wanted.delete(key)
        this.wake(key) // whoever waits in whenFetched now reads it, or fetches it some other way
      }
    }
  }

  /** Resolves once the block is local, or at once when no fetch of this node wants it */
  async whenFetched (cid: CID, options: { signal?: AbortSignal } = {}): Promise<void> {
    const key = blockKey(cid)
    if (!this.wanted.has(key) || await this.init.blockstore.has(cid, options)) return
    // store() and the fetch's release wake us; the slow poll covers blocks stored some other way
    while (this.wanted.has(key)) {
      options.signal?.throwIfAborted()
      if (await this.arrival(key, WHEN_FETCHED_POLL_MS) === 'woken') return
      if (await this.init.blockstore.has(cid, options)) return
    }
  }

  /** The block through `read` (which may go to the network), or from here as soon as a fetch stores it, whichever comes first */
  async readOrStored (cid: CID, read: (signal: AbortSignal) => Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const settled = new AbortController()
    const signal = AbortSignal.any([settled.signal, ...(options.signal != null ? [options.signal] : [])])
    try {
      return await Promise.race([collect(read(signal)), this.stored(cid, signal)])
    } finally {
      settled.abort()
    }
  }

  /** Resolves with the block once it is here (woken by store(), polled for other writers) */
  private async stored (cid: CID, signal: AbortSignal): Promise<Uint8Array> {
    const key = blockKey(cid)
    while (!signal.aborted) {
      await this.arrival(key, WHEN_FETCHED_POLL_MS)
      const bytes = await this.readLocal(cid, signal).catch(() => undefined)
      if (bytes != null) return bytes
    }
    throw signal.reason
  }

  /** The CIDs of the list this node does not hold */
  async missing (cids: CID[], options: { signal?: AbortSignal } = {}): Promise<CID[]> {
    const out: CID[] = []
    for (const cid of cids) if (!await this.init.blockstore.has(cid, options)) out.push(cid)
    return out
  }

  /** Ask one peer for blocks; each one is verified, stored and reported as it arrives */
  async request (peer: string, cids: CID[], options: RequestOptions = {}): Promise<RequestResult> {
    if (cids.length > MAX_BATCH) throw new BlockRequestError(`at most ${MAX_BATCH} blocks per request`)
    const signal = AbortSignal.any([this.closing.signal, ...(options.signal != null ? [options.signal] : [])])
    // a fetch's signal is shared by all its concurrent requests
    setMaxListeners(Infinity, signal, ...(options.signal != null ? [options.signal] : []))
    const missing: CID[] = []
    // blocks verified and being stored while the next ones are read: a put waits for its write on
    // libuv's pool, and reading the next block meanwhile kept the stream (and the seed) busy
    const storing = new Map<number, Promise<void>>()
    const stored = new Set<number>()
    let storeFailure: { err: unknown } | undefined
    let next = 0
    let stream: Stream | undefined
    const started = Date.now()
    let slowest = 0
    // the responder may hold a request up to waitWantedMs for a block it is fetching itself: each
    // block must come within that (and some). One timer per request, restarted for every block:
    // a signal and a timer per block (AbortSignal.any + timeout) cost ~50 ms of CPU per 288 MiB
    // and left thousands of 45 s timers behind each fetch
    const blockDeadline = new AbortController()
    const blockWaitMs = this.waitWantedMs + 15_000
    const timer = setTimeout(() => { blockDeadline.abort(new BlockRequestError(`no block from the peer within ${blockWaitMs} ms`)) }, blockWaitMs)
    const frame = AbortSignal.any([signal, blockDeadline.signal])
    try {
      stream = await this.init.libp2p.dialProtocol(peerIdFromString(peer), BLOCKS_PROTOCOL, { signal })
      const lp = lpStream(stream, { maxDataLength: MAX_BLOCK_BYTES, maxBufferSize: MAX_BATCH * (MAX_BLOCK_BYTES + 16) })
      await lp.write(encodeRequest(cids, { spare: options.spare }), { signal })
      for (; next < cids.length; next++) {
        const cid = cids[next] as CID
        timer.refresh()
        const waitStart = Date.now()
        if ((await lp.read({ signal: frame })).subarray()[0] !== HAVE[0]) { missing.push(cid); continue }
        // the block as the frames it came in: verified and written part by part, never joined
        const bytes = await lp.read({ signal: frame })
        slowest = Math.max(slowest, Date.now() - waitStart)
        if (!await verifyBlock(cid, bytes)) throw new BlockRequestError(`peer sent bytes that are not block ${cid.toString()}`)
        const index = next
        const put = this.store(cid, bytes).then(() => {
          stored.add(index)
          this.receivedBytes += bytes.byteLength
          this.receivedAt = Date.now()
          options.onBlock?.(cid, bytes.byteLength)
        })
        storing.set(index, put)
        put.then(() => storing.delete(index), (err: unknown) => { storeFailure ??= { err } })
        if (storing.size >= MAX_STORING) await Promise.race(storing.values())
        // a failed put fails the request at once (a full disk: the whole fetch)
        if (storeFailure != null) throw storeFailure.err
      }
      await Promise.all(storing.values())
      await stream.close({ signal })
      if (Date.now() - started > SLOW_REQUEST_MS) this.init.log.info({ peer, blocks: cids.length, missing: missing.length, ms: Date.now() - started, slowestBlockMs: slowest }, 'slow block request')
      return { missing, failed: false }
    } catch (err) {
      stream?.abort(err as Error)
      // puts still running settle before the outcome is told (their blocks then count as received)
      await Promise.allSettled(storing.values())
      if (options.signal?.aborted === true) throw err
      // this node cannot keep what it asked for: no other peer (nor bitswap) can help, and taken
      // for the peer's failure the fetch went on asking forever; the fetch fails, saying why
      if (err instanceof DiskFullError) throw err
      this.failedRequests++
      const notStored = cids.slice(0, next + 1).filter((cid, i) => i < cids.length && !stored.has(i) && !missing.includes(cid))
      this.init.log.info({ peer, err: (err as Error).message, blocks: cids.length - stored.size - missing.length, ms: Date.now() - started }, 'block request failed')
      return { missing: [...missing, ...notStored, ...cids.slice(next + 1)], failed: true, unreachable: stream == null && !this.connected(peer) }
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * The skeleton of `root` from one peer (skeleton.ts): every block checked (its bytes, and that it
   * hangs under the root) and stored as it arrives. `blocks` counts what was kept, also when the
   * request failed part way.
   */
  async requestSkeleton (peer: string, root: CID, options: { signal?: AbortSignal } = {}): Promise<{ blocks: number, failed: boolean }> {
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(SKELETON_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
    const check = new SkeletonCheck(root)
    let blocks = 0
    let stream: Stream | undefined
    try {
      stream = await this.init.libp2p.dialProtocol(peerIdFromString(peer), SKELETON_PROTOCOL, { signal })
      const lp = lpStream(stream, { maxDataLength: MAX_BLOCK_BYTES })
      await lp.write(root.bytes, { signal })
      for (let frame = (await lp.read({ signal })).subarray(); frame.byteLength > 0; frame = (await lp.read({ signal })).subarray()) {
        const cid = check.cid(frame)
        const bytes = (await lp.read({ signal })).subarray()
        await check.accept(cid, bytes)
        await this.store(cid, bytes)
        this.receivedBytes += bytes.byteLength
        blocks++
      }
      await stream.close({ signal })
      return { blocks, failed: false }
    } catch (err) {
      stream?.abort(err as Error)
      if (options.signal?.aborted === true) throw err
      if (err instanceof DiskFullError) throw err
      this.failedRequests++
      this.init.log.info({ peer, err: (err as Error).message, blocks }, 'skeleton request failed')
      return { blocks, failed: true }
    }
  }

  private async respondSkeleton (stream: Stream, connection: Connection): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_CID_BYTES })
    const signal = this.closing.signal
    let counted = false
    try {
      const root = decodeSkeletonRequest((await lp.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) })).subarray())
      // a peer that asks for a skeleton asks for the blocks under it next: serving starts now. A
      // seed's own engine is paced from this moment (onlyServing): paced only once the answer had
      // ended, the engine's pull held the answer up for 1 s (bench/distribution, 100 Mbit/s)
      counted = true
      this.answering++
      for await (const { cid, bytes } of skeletonOf(root, async cid => await this.readLocal(cid, signal))) {
        await lp.writeV([cid.bytes, bytes], { signal })
        this.sentBytes += bytes.byteLength
        this.upload.sent(bytes.byteLength)
      }
      await lp.write(END_OF_SKELETON, { signal })
      await stream.close({ signal })
    } catch (err) {
      const level = err instanceof BlockRequestError ? 'warn' : 'info'
      this.init.log[level]({ peer: connection.remotePeer.toString(), err: (err as Error).message }, 'skeleton request not answered')
      stream.abort(err as Error)
    } finally {
      if (counted) {
        this.answering--
        this.answeredAt = Date.now()
      }
    }
  }

  private async store (cid: CID, bytes: Uint8Array | Uint8ArrayList): Promise<void> {
    await this.init.blockstore.put(cid, bytes)
    this.wake(blockKey(cid))
  }

  private wake (key: string): void {
    const waiting = this.waiters.get(key)
    this.waiters.delete(key)
    waiting?.forEach(wake => { wake() })
  }

  private async respond (stream: Stream, connection: Connection): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
    const signal = this.closing.signal
    // ends the reads ahead still waiting for blocks once this answer is over, however it ends
    const answered = new AbortController()
    const reading = AbortSignal.any([signal, answered.signal])
    let counted = false
    try {
      const { cids, spare } = decodeRequest((await lp.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) })).subarray())
      counted = !spare
      if (counted) this.answering++
      // the next blocks are read from disk while this one is sent (a read waits on libuv's pool);
      // a few only, as each holds a block in memory until it is sent
      const reads: Array<Promise<Uint8Array | undefined>> = []
      const readAhead = (upTo: number): void => {
        for (let i = reads.length; i < Math.min(upTo, cids.length); i++) {
          // a spare request gets what is here, without waiting for blocks still to come
          const read = spare ? this.readServable(cids[i] as CID, reading) : this.awaitLocal(cids[i] as CID, reading)
          read.catch(() => {}) // awaited in order below; one failing early must not be unhandled
          reads.push(read)
        }
      }
      for (let i = 0; i < cids.length; i++) {
        readAhead(i + READ_AHEAD)
        const bytes = spare && !this.hasSpareUpload() ? undefined : await reads[i]
        reads[i] = Promise.resolve(undefined) // sent: not kept until the stream ends
        if (bytes == null) {
          await lp.write(DONT_HAVE, { signal })
        } else {
          await lp.writeV([HAVE, bytes], { signal })
          this.sentBytes += bytes.byteLength
          this.upload.sent(bytes.byteLength)
          if (counted) this.answeredAt = Date.now()
        }
      }
      await stream.close({ signal })
    } catch (err) {
      const level = err instanceof BlockRequestError ? 'warn' : 'info'
      this.init.log[level]({ peer: connection.remotePeer.toString(), err: (err as Error).message }, 'block request not answered')
      stream.abort(err as Error)
    } finally {
      answered.abort()
      if (counted) {
        this.answering--
        this.answeredAt = Date.now()
      }
    }
  }

  /**
   * Peers depend on this node alone: it answered their requests within `memoryMs` and has received
   * no block itself for `quietMs` (a holder serving, not a puller passing blocks on as they arrive).
   * The memory spans the gap between a skeleton answer and the first block requests that follow it:
   * 1.7 s on a busy seed, in which its engine, no longer paced, pulled at full speed and took the
   * CPU the requests waited for (bench/distribution, 100 Mbit/s).
   */
  onlyServing (quietMs: number, memoryMs = SERVING_MEMORY_MS): boolean {
    return this.servedWithin(memoryMs) && Date.now() - this.receivedAt >= quietMs
  }

  /**
   * Blocks are moving here: a fetch wants blocks, or this node received or answered some within
   * `memoryMs`. Work that can wait (provider announcements) waits for the end of it.
   */
  transferring (memoryMs = SERVING_MEMORY_MS): boolean {
    return this.wanted.size > 0 || this.servedWithin(memoryMs) || Date.now() - this.receivedAt < memoryMs
  }

  /** A request is being answered, or one was within `ms` */
  private servedWithin (ms: number): boolean {
    return this.answering > 0 || Date.now() - this.answeredAt < ms
  }

  /**
   * Whether a spare request may be answered: no other request is being answered, or those that are
   * no longer fill the upload (a lagging peer's full download holds its requests back: UploadMeter)
   */
  private hasSpareUpload (): boolean {
    return !this.busy() || this.upload.hasSpare()
  }

  /**
   * Whether a spare request must yield: another request is being answered, or one was a moment
   * ago (the gap between one request of a puller's and its next is no spare upload)
   */
  private busy (): boolean {
    return this.servedWithin(SPARE_AFTER_MS)
  }

  private async readServable (cid: CID, signal: AbortSignal): Promise<Uint8Array | undefined> {
    const bytes = await this.readLocal(cid, signal)
    return bytes != null && bytes.byteLength <= MAX_BLOCK_BYTES ? bytes : undefined
  }

  /** The block, waiting a while for it if this node is fetching it (or may be about to) */
  private async awaitLocal (cid: CID, signal: AbortSignal): Promise<Uint8Array | undefined> {
    const start = Date.now()
    const key = blockKey(cid)
    for (;;) {
      const bytes = await this.readLocal(cid, signal)
      if (bytes != null && bytes.byteLength <= MAX_BLOCK_BYTES) return bytes
      if (bytes != null) return undefined
      const left = (this.wanted.has(key) ? this.waitWantedMs : this.waitUnwantedMs) - (Date.now() - start)
      if (left <= 0 || signal.aborted) return undefined
      // woken by store(); the poll also catches blocks written by bitswap or an import
      await this.arrival(key, Math.min(left, POLL_MS))
    }
  }

  /** Woken when the block is stored or no longer wanted; otherwise after `ms` */
  private async arrival (key: string, ms: number): Promise<'woken' | 'timeout'> {
    const outcome = await new Promise<'woken' | 'timeout'>(resolve => {
      const set = this.waiters.get(key) ?? new Set()
      this.waiters.set(key, set)
      const wake = (): void => { clearTimeout(timer); set.delete(wake); resolve('woken') }
      const timer = setTimeout(() => { set.delete(wake); resolve('timeout') }, ms)
      set.add(wake)
    })
    if (this.waiters.get(key)?.size === 0) this.waiters.delete(key)
    return outcome
  }

  private async readLocal (cid: CID, signal: AbortSignal): Promise<Uint8Array | undefined> {
    try {
      const chunks: Uint8Array[] = []
      for await (const chunk of this.init.blockstore.get(cid, { signal })) chunks.push(chunk)
      return chunks.length === 1 ? chunks[0] : concat(chunks)
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
  }
}

async function collect (parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of parts) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0] as Uint8Array : concat(chunks)
}

/** Blocks are the same whatever the CID version: key them by multihash */
function blockKey (cid: CID): string {
  return toString(cid.multihash.bytes, 'base64')
}

/**
 * A view of a (networked) blockstore for readers that should not race a running fetch: a block
 * this node is fetching is read once it arrives, instead of being asked for again (over
 * bitswap, from every peer). The registry reads through it, so `docker pull` can start while
 * the image's blocks are still arriving.
 *
 * A read that goes to the network also ends when a fetch that began after it stores the block
 * here: bitswap is not told of blocks the exchange stores, and such a read (a registry read
 * begun between a failed fetch and its retry) held `docker pull` up for its whole 60 s timeout.
 */
export function awaitingFetches<B extends Blockstore> (blockstore: B, exchange: BlockExchange): B {
  return new Proxy(blockstore, {
    get (target, prop) {
      const value: unknown = Reflect.get(target, prop)
      if (prop !== 'get') return typeof value === 'function' ? value.bind(target) : value
      return async function * (cid: CID, options?: { signal?: AbortSignal }) {
        await exchange.whenFetched(cid, options)
        if (await target.has(cid, options)) {
          yield * target.get(cid, options)
          return
        }
        yield await exchange.readOrStored(cid, signal => target.get(cid, { ...options, signal }), options)
      }
    }
  })
}

/**
 * A view of Helia's (networked) blockstore that reads a block held here straight from `local`,
 * the store Helia's ends in: no GC lock, no network layer per block (a registry pull of a
 * 288 MiB image reads ~1150 of them). A missing block still goes through Helia, over bitswap.
 */
export function localFirst<B extends Blockstore> (networked: B, local: Pick<Blockstore, 'has' | 'get'>): B {
  return new Proxy(networked, {
    get (target, prop) {
      const value: unknown = Reflect.get(target, prop)
      if (prop !== 'get') return typeof value === 'function' ? value.bind(target) : value
      return async function * (cid: CID, options?: { signal?: AbortSignal }) {
        if (await local.has(cid, options)) yield * local.get(cid, options)
        else yield * target.get(cid, options)
      }
    }
  })
}

/** A view of a blockstore whose `get` first runs `before` (e.g. to bring the block in some other way) */
export function beforeGet<B extends Blockstore> (blockstore: B, before: (cid: CID, options?: { signal?: AbortSignal }) => Promise<void>): B {
  return new Proxy(blockstore, {
    get (target, prop) {
      const value: unknown = Reflect.get(target, prop)
      if (prop !== 'get') return typeof value === 'function' ? value.bind(target) : value
      return async function * (cid: CID, options?: { signal?: AbortSignal }) {
        await before(cid, options)
        yield * target.get(cid, options)
      }
    }
  })
}
