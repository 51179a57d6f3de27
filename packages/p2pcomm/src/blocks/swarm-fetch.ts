import { createHash, hash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import type { BlockExchange, RequestOptions } from './exchange.js'
import { MAX_BATCH } from './protocol.js'

/** Who can give the blocks of one DAG right now */
export interface Swarm {
  /** This node's peer ID */
  self: string
  /** Peers that hold every block (the importer, peers that finished) */
  holders: string[]
  /**
   * Peers fetching the same blocks at the same time, this node included. Every node of a
   * swarm must compute the same list (e.g. from the replicated store), as it decides who
   * fetches which share from the holders.
   */
  pullers: string[]
}

export interface SwarmFetchOptions extends RequestOptions {
  /** Requests in flight per owner (default OWNER_LANES); per holder, this plus one (default 3) */
  lanes?: number
  /** Called once the missing blocks are marked wanted: readers may now wait for them (awaitingFetches) */
  onStarted?: () => void
}

/**
 * Fetches blocks the way a swarm should: the holders' upload is split, not repeated.
 *
 * Each block has one owner among the pullers (see ownersOf: every puller computes the same
 * owners, and each owns an equal share). A puller fetches the blocks it owns from the holders,
 * and every other block from that block's owner, which answers as soon as the block reaches
 * it. A holder thus sends each block about once, and each puller's upload carries the rest,
 * in the same order as it arrives. Whatever an owner cannot give goes to the holders; whatever
 * no holder gives is returned, for the caller to try elsewhere (bitswap).
 */
export async function swarmFetch (exchange: BlockExchange, cids: CID[], swarm: Swarm, options: SwarmFetchOptions = {}): Promise<CID[]> {
  const todo = await exchange.missing(cids, options)
  const release = exchange.want(todo)
  options.onStarted?.()
  if (todo.length === 0) return []
  try {
    const { own, byOwner } = partition(todo, cids, swarm)
    const fromHolders = new WorkQueue<CID>()
    fromHolders.push(own)
    const ownShare = new OwnShare(own)
    const counted: SwarmFetchOptions = { ...options, onBlock: (cid, bytes) => { ownShare.received(cid); options.onBlock?.(cid, bytes) } }
    const unresolved = drainToHolders(exchange, fromHolders, swarm, counted)
    const shares = [...byOwner].map(([owner, blocks]): OwnerShare => ({ owner, blocks, next: 0, done: false }))
    const relayed = Promise.all(shares.map(async share => { await fetchFromOwner(exchange, share, fromHolders, counted) }))
    // the endgame starts once this puller has its own share, and never once the owners are done
    const start = Promise.race([ownShare.complete, relayed.then(() => false)])
    await Promise.all([
      relayed,
      ...Array.from({ length: ENDGAME_LANES }, async () => { if (await start) await endgame(exchange, shares, fromHolders, swarm, counted) })
    ]).finally(() => { fromHolders.close() })
    return await unresolved
  } finally {
    release()
  }
}

/** `todo` split by owner; owners are computed over the whole list, which every puller passes the same whatever it holds */
function partition (todo: CID[], all: CID[], swarm: Swarm): { own: CID[], byOwner: Map<string, CID[]> } {
  const pullers = [...new Set(swarm.pullers)].filter(p => !swarm.holders.includes(p))
  const byOwner = new Map<string, CID[]>()
  const own: CID[] = []
  if (!pullers.includes(swarm.self)) return { own: todo, byOwner }
  const owners = ownersOf(all, pullers)
  for (const cid of todo) {
    const owner = owners.get(blockKey(cid)) as string
    if (owner === swarm.self) own.push(cid)
    else {
      const blocks = byOwner.get(owner)
      if (blocks == null) byOwner.set(owner, [cid])
      else blocks.push(cid)
    }
  }
  return { own, byOwner }
}

/**
 * The owner of each block: rendezvous hashing with bounded loads. Blocks are taken in the order
 * of their multihashes (the same on every puller, whatever order the caller lists them in) and
 * each goes to the first puller of its own ranking that owns fewer than ceil(blocks/pullers).
 * Plain rendezvous hashing left shares a few percent apart (±13 blocks of ~270 for 3 pullers),
 * and the puller with the largest share finished seconds after the others (bench/distribution).
 */
export function ownersOf (cids: CID[], pullers: string[]): Map<string, string> {
  const keys = [...new Set(cids.map(blockKey))].sort()
  const cap = Math.ceil(keys.length / Math.max(pullers.length, 1))
  const load = new Map<string, number>()
  const owners = new Map<string, string>()
  for (const key of keys) {
    const owner = ranking(key, pullers).find(p => (load.get(p) ?? 0) < cap) as string
    load.set(owner, (load.get(owner) ?? 0) + 1)
    owners.set(key, owner)
  }
  return owners
}

function ranking (key: string, pullers: string[]): string[] {
  // one-shot hashing, the same digest as a hash object fed both parts: a third of the CPU for the
  // ~8400 scores of a 702 MiB image among three pullers, computed as every puller's fetch begins
  const score = (peer: string): string => hash('sha256', peer + key, 'hex')
  return pullers.map(peer => ({ peer, score: score(peer) })).sort((a, b) => a.score < b.score ? 1 : -1).map(r => r.peer)
}

function blockKey (cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString('hex')
}

/**
 * The skeleton under `root` (skeleton.ts) from a holder: connected ones first, the next one when a
 * holder gives nothing. True when one gave at least the root.
 */
export async function swarmSkeleton (exchange: BlockExchange, root: CID, swarm: Swarm, options: { signal?: AbortSignal } = {}): Promise<boolean> {
  const holders = swarm.holders.filter(h => h !== swarm.self)
  const ordered = [...holders.filter(h => exchange.connected(h)), ...holders.filter(h => !exchange.connected(h))]
  for (const holder of ordered.slice(0, MAX_SKELETON_HOLDERS)) {
    if ((await exchange.requestSkeleton(holder, root, options)).blocks > 0) return true
  }
  return false
}

/** Holders asked for a skeleton before falling back to reading block by block */
const MAX_SKELETON_HOLDERS = 3

/**
 * Requests in flight per owner. With two, the pullers' downloads averaged 85 Mbit/s of 96 while
 * the seed's upload was full, and the relayed blocks fell behind: 10 s of tail after the seed's
 * last byte (bench/distribution --timeline, 100 Mbit/s, 702 MiB). With four, 89 Mbit/s and 6–7 s;
 * the runs took 75.2 and 75.1 s against 78.7 and 78.4 s with two, interleaved (six: 76.6 s). More
 * data is in flight per owner; each request is its own yamux stream, starting at a 256 KiB window.
 */
const OWNER_LANES = 4
/** An owner whose requests failed this many times in a row is not asked again during this fetch */
const MAX_STRIKES = 3
/** The same for a holder (several lanes ask it at once, so one hiccup can cost several strikes) */
const MAX_HOLDER_STRIKES = 8
/** Attempts per batch and holder, failures and retries included */
const ATTEMPTS_PER_HOLDER = 3

/**
 * Ask the owner in order. What it lacks goes to the holders; everything left goes there too
 * once it answers a whole batch with "don't have" (it is not fetching these) or keeps failing.
 */
async function fetchFromOwner (exchange: BlockExchange, share: OwnerShare, fallback: WorkQueue<CID>, options: SwarmFetchOptions): Promise<void> {
  let strikes = 0
  let gaveUp = false
  const lane = async (): Promise<void> => {
    while (!gaveUp && share.next < share.blocks.length) {
      const batch = share.blocks.slice(share.next, share.next + MAX_BATCH)
      share.next += batch.length
      const result = await exchange.request(share.owner, batch, options)
      strikes = result.failed ? strikes + 1 : 0
      if (strikes >= MAX_STRIKES || (!result.failed && result.missing.length === batch.length)) gaveUp = true
      fallback.push(result.missing)
    }
  }
  await Promise.all(Array.from({ length: options.lanes ?? OWNER_LANES }, lane))
  share.done = true
  fallback.push(share.blocks.slice(share.next))
}

/** What this puller asks one owner for: the owner's lanes take from the front, the endgame from the back */
interface OwnerShare {
  owner: string
  blocks: CID[]
  /** Blocks before this one have been asked for */
  next: number
  /** The owner's lanes have ended: what is left goes to the holders */
  done: boolean
}

/** Spare requests in flight per puller in the endgame */
const ENDGAME_LANES = 2
/** A holder that answered a whole spare request with "don't have" (busy) is asked again after this */
const SPARE_RETRY_MS = 250

/**
 * The endgame: once this puller has its own share, it asks a holder for the blocks at the back of
 * what the owners have still to relay to it, as spare requests, which a holder answers only when
 * it has answered no other request for a moment, or those it answers no longer fill its upload
 * (exchange.ts). While the holder uploads the pullers' shares it is the bottleneck and sends
 * nothing extra; once the shares are out, or held back by one lagging puller's full download, it
 * has upload to spare, and the relays, which lag the owners by seconds (bench/distribution traced
 * per block: 3–5 s median after 40 s), are shortened from the back. Blocks a busy holder does not give go
 * back to their owner. At 100 Mbit/s, 702 MiB: 1 s from the seed's last byte to the pullers' last
 * where it was 4–6 s, for 1.02–1.05 S from the seed. (An endgame that asked the seed as it would
 * for any block cost more than it saved: the seed sent 1.13 S while it still owed the others
 * their shares, and the run took 82 s; a holder older than the spare flag answers it so.)
 */
async function endgame (exchange: BlockExchange, shares: OwnerShare[], fallback: WorkQueue<CID>, swarm: Swarm, options: SwarmFetchOptions): Promise<void> {
  const holders = swarm.holders.filter(h => h !== swarm.self)
  if (holders.length === 0) return
  for (;;) {
    if (options.signal?.aborted === true) return
    const share = mostBehind(shares)
    if (share == null) return
    const batch = share.blocks.splice(Math.max(share.next, share.blocks.length - MAX_BATCH))
    const holder = holders.find(h => exchange.connected(h)) ?? holders[0] as string
    const result = await exchange.request(holder, batch, { ...options, spare: true })
    if (result.missing.length === 0) continue
    // back to the owner, unless its lanes have ended meanwhile
    if (share.done) fallback.push(result.missing)
    else share.blocks.push(...result.missing)
    if (result.missing.length === batch.length) await new Promise(resolve => setTimeout(resolve, SPARE_RETRY_MS))
  }
}

/** The share with the most blocks not yet asked for, if any */
function mostBehind (shares: OwnerShare[]): OwnerShare | undefined {
  let most: OwnerShare | undefined
  for (const share of shares) {
    const left = share.blocks.length - share.next
    if (!share.done && left > 0 && (most == null || left > most.blocks.length - most.next)) most = share
  }
  return most
}

/** This puller's own share: `complete` resolves (true) once every block of it is here */
class OwnShare {
  private readonly left: Set<string>
  private settle!: (complete: true) => void
  readonly complete = new Promise<true>(resolve => { this.settle = resolve })

  constructor (own: CID[]) {
    this.left = new Set(own.map(blockKey))
    if (this.left.size === 0) this.settle(true)
  }

  received (cid: CID): void {
    if (this.left.delete(blockKey(cid)) && this.left.size === 0) this.settle(true)
  }
}

/**
 * Workers take batches and ask the holders (each puller starts at a different one). A failed
 * request is retried after a pause, at the next holder if there are several; a holder that
 * answers "don't have" is not asked again for that batch.
 */
async function drainToHolders (exchange: BlockExchange, queue: WorkQueue<CID>, swarm: Swarm, options: SwarmFetchOptions): Promise<CID[]> {
  const holders = swarm.holders.filter(h => h !== swarm.self)
  const strikes = new Map<string, number>()
  const unresolved: CID[] = []
  const offset = holders.length === 0 ? 0 : parseInt(createHash('sha256').update(swarm.self).digest('hex').slice(0, 8), 16) % holders.length
  const fromHolders = async (batch: CID[], index: number): Promise<CID[]> => {
    let left = batch
    const refused = new Set<string>()
    for (let attempt = 0; left.length > 0 && attempt < holders.length * ATTEMPTS_PER_HOLDER; attempt++) {
      const usable = holders.filter(h => !refused.has(h) && (strikes.get(h) ?? 0) < MAX_HOLDER_STRIKES)
      // holders this node is connected to first: a holder's status outlives the holder (a node
      // stopped or killed stays `pinned` in the store), and lanes that tried such a one waited for
      // its dial, then backed off, 8 times (bench/transfer: a 3 s fetch took 7–24 s)
      const connected = usable.filter(h => exchange.connected(h))
      const candidates = connected.length > 0 ? connected : usable
      const holder = candidates[(offset + index + attempt) % candidates.length]
      if (holder == null) break
      const result = await exchange.request(holder, left, options)
      if (result.failed) {
        if (result.unreachable === true) {
          // a holder that cannot even be dialled is not asked again during this fetch; the next one is asked at once
          strikes.set(holder, MAX_HOLDER_STRIKES)
        } else {
          strikes.set(holder, (strikes.get(holder) ?? 0) + 1)
          await new Promise(resolve => setTimeout(resolve, 200 * 2 ** Math.min(attempt, 4)))
        }
      } else {
        strikes.delete(holder)
        if (result.missing.length > 0) refused.add(holder)
      }
      left = result.missing
    }
    return left
  }
  const lane = async (index: number): Promise<void> => {
    for (let batch = await queue.take(MAX_BATCH); batch.length > 0; batch = await queue.take(MAX_BATCH)) {
      unresolved.push(...await fromHolders(batch, index))
    }
  }
  await Promise.all(Array.from({ length: (options.lanes ?? 2) + 1 }, async (_, i) => { await lane(i) }))
  return unresolved
}

/** A FIFO that workers wait on until it is closed and empty */
class WorkQueue<T> {
  private readonly items: T[] = []
  private closed = false
  private wake?: () => void

  push (items: T[]): void {
    if (items.length === 0) return
    this.items.push(...items)
    this.notify()
  }

  close (): void {
    this.closed = true
    this.notify()
  }

  async take (max: number): Promise<T[]> {
    while (this.items.length === 0 && !this.closed) {
      await new Promise<void>(resolve => {
        const previous = this.wake
        this.wake = () => { previous?.(); resolve() }
      })
    }
    return this.items.splice(0, max)
  }

  private notify (): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}
