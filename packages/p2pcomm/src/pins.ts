/*
 * Helia's pins, with `add` writing its per-block records in batches.
 *
 * Helia's `pins.add` keeps, for every block of the DAG, a record of the pins holding it
 * (`/pinned-block/<multihash>`: count and pinning CIDs), read and written one block at a time: for
 * a 288 MiB image (~1160 blocks) that is ~2300 sequential datastore round trips, ~0.4 s after
 * every import. Here the records of a few hundred blocks are read at once and written in one
 * datastore batch. The keys and encodings are Helia's own (helia/dist/src/pins.js), so Helia's
 * `isPinned`, `ls`, `get`, `setMetadata` and `rm` (delegated to it) see these pins as theirs.
 *
 * Every change goes through one queue (adds, removals, metadata): a batch reads records and
 * writes them back later, and no other change made through this object may slip in between and
 * be lost. (Helia's own add has the same window per block; this makes it none.)
 */
import * as cborg from 'cborg'
import { CustomProgressEvent } from 'progress-events'
import { LevelDatastore } from 'datastore-level'
import { Key, type Datastore } from 'interface-datastore'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import { InvalidParametersError, type AbortOptions } from '@libp2p/interface'
import type { AddOptions, GraphWalkerFactory, Pins, RmOptions } from 'helia'
import type { Blockstore } from 'interface-blockstore'

export interface BatchedPinsComponents {
  pins: Pins
  datastore: Datastore
  blockstore: Blockstore
  getCodec: Parameters<GraphWalkerFactory>[0]['getCodec']
  /**
   * The node's own blocks, to answer a walker's `has` directly: Helia's `has` asks the same store
   * after taking its GC lock, which cost more than the lookup (~0.1 s per 1160 blocks) and guards
   * nothing where Helia's GC is never run. Blocks still come through `blockstore`.
   */
  localBlockstore?: Pick<Blockstore, 'has'>
}

export interface BatchedPinsInit {
  /** Block records read and written per batch (default 256) */
  batchSize?: number
}

interface PinnedBlock {
  pinCount: number
  pinnedBy: Uint8Array[]
}

export class AlreadyPinnedError extends Error {
  static readonly NAME = 'AlreadyPinnedError'
  override name = AlreadyPinnedError.NAME
}

const DEFAULT_BATCH_SIZE = 256

/**
 * `add` with a walker is batched; without one it is Helia's own (its default walker is not
 * exported by a package we depend on). Either way it waits its turn in the queue.
 */
export function batchedPins (components: BatchedPinsComponents, init: BatchedPinsInit = {}): Pins {
  const { pins } = components
  const batchSize = init.batchSize ?? DEFAULT_BATCH_SIZE
  let queue: Promise<unknown> = Promise.resolve()
  /** Runs `fn` after every change queued before it */
  const serial = async <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn)
    queue = run.catch(() => {})
    return await run
  }
  const add = async (cid: CID, options: AddOptions = {}): Promise<CID[]> => {
    const { walker } = options
    if (walker === undefined) return await collect(pins.add(cid, options))
    return await addPin(components, cid, { ...options, walker, batchSize })
  }
  return {
    add: (cid, options) => lazily(async () => await serial(async () => await add(cid, options))),
    rm: (cid, options) => lazily(async () => await serial(async () => await collect(pins.rm(cid, options)))),
    setMetadata: async (cid, metadata, options) => { await serial(async () => { await pins.setMetadata(cid, metadata, options) }) },
    // reads need no turn
    ls: options => pins.ls(options),
    isPinned: async (cid, options) => await pins.isPinned(cid, options),
    get: async (cid, options) => await pins.get(cid, options)
  }
}

async function addPin (components: BatchedPinsComponents, cid: CID, options: AddOptions & { walker: GraphWalkerFactory, batchSize: number }): Promise<CID[]> {
  const { datastore } = components
  const pinKey = pinKeyOf(cid)
  if (await datastore.has(pinKey, options)) throw new AlreadyPinnedError('Already pinned')
  const depth = Math.round(options.depth ?? Infinity)
  if (depth < 0) throw new InvalidParametersError('Depth must be greater than or equal to 0')
  const { blockstore, localBlockstore } = components
  const walker = options.walker({ blockstore: localBlockstore === undefined ? blockstore : withHas(blockstore, localBlockstore), getCodec: components.getCodec })
  const seen = new Set<string>()
  const pinned: CID[] = []
  let pending: Key[] = []
  for await (const node of walker.walk(cid, { ...options, depth })) {
    const block = node.block.cid
    pinned.push(block)
    options.onProgress?.(new CustomProgressEvent('helia:pin:add', block))
    const key = blockKeyOf(block)
    const name = key.toString()
    // a block reached twice (a shared subtree) is counted once per pin, as Helia does
    if (seen.has(name)) continue
    seen.add(name)
    pending.push(key)
    if (pending.length >= options.batchSize) {
      await recordBlocks(datastore, cid, pending, options)
      pending = []
    }
  }
  await recordBlocks(datastore, cid, pending, options)
  await datastore.put(pinKey, cborg.encode({ depth, metadata: options.metadata ?? {} }), options)
  return pinned
}

/** Adds `pin` to the block records under `keys`: all read at once, written in one batch. */
async function recordBlocks (datastore: Datastore, pin: CID, keys: Key[], options: AbortOptions): Promise<void> {
  if (keys.length === 0) return
  const values = await readValues(datastore, keys, options)
  const batch = datastore.batch()
  keys.forEach((key, i) => {
    const value = values[i]
    const record = value === undefined ? { pinCount: 0, pinnedBy: [] } : cborg.decode(value) as PinnedBlock
    if (record.pinnedBy.some(by => equalBytes(by, pin.bytes))) return
    record.pinCount++
    record.pinnedBy.push(pin.bytes)
    batch.put(key, cborg.encode(record))
  })
  await batch.commit(options)
}

/**
 * The values under `keys`, undefined where there is none. LevelDB's are read in one call: one
 * get per key (a promise, a thread-pool job and, mostly, a NotFoundError each) was half the time
 * of pinning a freshly imported image.
 */
async function readValues (datastore: Datastore, keys: Key[], options: AbortOptions): Promise<Array<Uint8Array | undefined>> {
  options.signal?.throwIfAborted()
  if (datastore instanceof LevelDatastore) return await datastore.db.getMany(keys.map(key => key.toString()))
  return await Promise.all(keys.map(async key => {
    try {
      return await datastore.get(key, options)
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
  }))
}

/**
 * Which of these blocks some pin holds (Helia's per-block records, written by `add` and removed by
 * `rm` when their count drops to 0): what a garbage collector must keep. One answer per CID, in order.
 */
export function pinnedBlocks (datastore: Datastore): (cids: CID[], options?: AbortOptions) => Promise<boolean[]> {
  return async (cids, options = {}) => {
    const values = await readValues(datastore, cids.map(blockKeyOf), options)
    return values.map(value => value !== undefined && (cborg.decode(value) as PinnedBlock).pinCount > 0)
  }
}

/** Helia's keys: `/pin/<base36 CIDv1>` and `/pinned-block/<base36 multihash>` */
function pinKeyOf (cid: CID): Key {
  return new Key(`/pin/${(cid.version === 0 ? cid.toV1() : cid).toString(base36)}`)
}

function blockKeyOf (cid: CID): Key {
  return new Key(`/pinned-block/${base36.encode(cid.multihash.bytes)}`)
}

/** `blockstore` with `has` answered by `local` (a view: every other member is the original's) */
function withHas (blockstore: Blockstore, local: Pick<Blockstore, 'has'>): Blockstore {
  return Object.assign(Object.create(blockstore) as Blockstore, { has: local.has.bind(local) })
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}

async function collect<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

/** As Helia's: a change starts when its generator is first read, and yields the CIDs it touched. */
async function * lazily (change: () => Promise<CID[]>): AsyncGenerator<CID, void, undefined> {
  yield * await change()
}
