/*
 * Streams a UnixFS file (raw leaves or dag-pb leaves) out of a blockstore with backpressure.
 *
 * ipfs-unixfs-exporter pushes every block into an unbounded queue as fast as the blockstore yields
 * it, so a slow client would make us hold the whole blob in memory. Here the consumer pulls: at
 * most `readAhead` sibling blocks are requested ahead of the one being sent, which keeps bitswap
 * busy on a mesh fetch while memory stays bounded (readAhead × 256 KiB per request).
 *
 * Every block get carries the request's watchdog signal, so a client that disconnects aborts its
 * bitswap wants, and a block that never arrives ends the request instead of hanging it.
 */
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import * as raw from 'multiformats/codecs/raw'
import { BlockTimeoutError } from './errors.js'
import type { StallWatchdog } from './watchdog.js'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'

export type ReadableBlockstore = Pick<Blockstore, 'get'>

export interface BlockReadOptions {
  /** Aborts on client disconnect and on a stall (see StallWatchdog). */
  watchdog: StallWatchdog
}

/** A blockstore view whose gets run under the request's watchdog (for openLayout's exporter). */
export function guardedBlockstore (blockstore: ReadableBlockstore, options: BlockReadOptions): ReadableBlockstore {
  return {
    get: async function * (cid) {
      yield await getBlock(blockstore, cid, options)
    }
  }
}

export async function getBlock (blockstore: ReadableBlockstore, cid: CID, options: BlockReadOptions): Promise<Uint8Array> {
  const { watchdog } = options
  const read = async (): Promise<Uint8Array> => {
    const parts: Uint8Array[] = []
    for await (const part of blockstore.get(cid, { signal: watchdog.signal })) parts.push(part)
    return parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts)
  }
  try {
    // race the abort too: a blockstore that ignores its signal must not hang the request
    return await watchdog.track(raceAbort(read(), watchdog.signal))
  } catch (err) {
    // the blockstore may reject with its own AbortError first; the watchdog's reason says why
    const reason: unknown = watchdog.signal.reason
    if (watchdog.signal.aborted && reason instanceof BlockTimeoutError) {
      throw new BlockTimeoutError(`block ${cid.toString()}: ${reason.message}`, { cid: cid.toString() })
    }
    throw err
  }
}

export interface FileReadOptions extends BlockReadOptions {
  offset?: number
  /** Bytes to read from offset; the rest of the file when absent. */
  length?: number
  readAhead?: number
}

/** Streams bytes [offset, offset + length) of the UnixFS file `cid`. */
export async function * readUnixFsFile (blockstore: ReadableBlockstore, cid: CID, options: FileReadOptions): AsyncGenerator<Uint8Array> {
  const start = options.offset ?? 0
  const end = options.length === undefined ? Number.MAX_SAFE_INTEGER : start + options.length
  if (end <= start) return
  const block = await getBlock(blockstore, cid, options)
  yield * walk(blockstore, cid, block, 0, start, end, options)
}

async function * walk (blockstore: ReadableBlockstore, cid: CID, block: Uint8Array, position: number, start: number, end: number, options: FileReadOptions): AsyncGenerator<Uint8Array> {
  if (cid.code === raw.code) {
    yield * slice(block, position, start, end)
    return
  }
  const node = dagPb.decode(block)
  const file = UnixFS.unmarshal(node.Data ?? new Uint8Array(0))
  if (file.data !== undefined && file.data.byteLength > 0) {
    yield * slice(file.data, position, start, end)
    position += file.data.byteLength
  }
  const children: Array<{ cid: CID, position: number }> = []
  node.Links.forEach((link, i) => {
    const size = Number(file.blockSizes[i] ?? 0n)
    if (position < end && position + size > start) children.push({ cid: link.Hash, position })
    position += size
  })
  for await (const [child, childBlock] of ordered(children, options.readAhead ?? 16, async c => getBlock(blockstore, c.cid, options))) {
    yield * walk(blockstore, child.cid, childBlock, child.position, start, end, options)
  }
}

function * slice (data: Uint8Array, position: number, start: number, end: number): Generator<Uint8Array> {
  const from = Math.max(0, start - position)
  const to = Math.min(data.byteLength, end - position)
  if (to > from) yield data.subarray(from, to)
}

/** Runs `fn` over items with at most `window` in flight, yielding results in order. */
async function * ordered<T, R> (items: T[], window: number, fn: (item: T) => Promise<R>): AsyncGenerator<[T, R]> {
  const inflight: Array<Promise<R>> = []
  let next = 0
  const fill = (): void => {
    while (next < items.length && inflight.length < window) {
      const promise = fn(items[next++] as T)
      promise.catch(() => {}) // awaited below in order; abandoned ones are aborted by the signal
      inflight.push(promise)
    }
  }
  for (let i = 0; i < items.length; i++) {
    fill()
    yield [items[i] as T, await (inflight.shift() as Promise<R>)]
  }
}

async function raceAbort<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  let onAbort = (): void => {}
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
    promise.catch(() => {})
  }
}
