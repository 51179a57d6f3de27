import { createHash } from 'node:crypto'
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
  /** Requests in flight per peer */
  lanes?: number
  /** Called once the missing blocks are marked wanted: readers may now wait for them (awaitingFetches) */
  onStarted?: () => void
}

/**
 * Fetches blocks the way a swarm should: the holders' upload is split, not repeated.
 *
 * Each block has one owner among the pullers (rendezvous hashing, so every puller agrees and a
 * changed puller list moves few blocks). A puller fetches the blocks it owns from the holders,
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
    const { own, byOwner } = partition(todo, swarm)
    const fromHolders = new WorkQueue<CID>()
    fromHolders.push(own)
    const unresolved = drainToHolders(exchange, fromHolders, swarm, options)
    await Promise.all([...byOwner].map(async ([owner, blocks]) => { await fetchFromOwner(exchange, owner, blocks, fromHolders, options) }))
      .finally(() => { fromHolders.close() })
    return await unresolved
  } finally {
    release()
  }
}

function partition (cids: CID[], swarm: Swarm): { own: CID[], byOwner: Map<string, CID[]> } {
  const pullers = [...new Set(swarm.pullers)].filter(p => !swarm.holders.includes(p))
  const byOwner = new Map<string, CID[]>()
  const own: CID[] = []
  if (!pullers.includes(swarm.self)) return { own: cids, byOwner }
  for (const cid of cids) {
    const owner = ownerOf(cid, pullers)
    if (owner === swarm.self) own.push(cid)
    else byOwner.set(owner, [...(byOwner.get(owner) ?? []), cid])
  }
  return { own, byOwner }
}

function ownerOf (cid: CID, pullers: string[]): string {
  let best = ''
  let bestScore = ''
  for (const peer of pullers) {
    const score = createHash('sha256').update(peer).update(cid.multihash.bytes).digest('hex')
    if (score > bestScore) { best = peer; bestScore = score }
  }
  return best
}

/** Ask the owner in order; what it lacks (or everything left, once it fails or has nothing) goes to the holders */
async function fetchFromOwner (exchange: BlockExchange, owner: string, blocks: CID[], fallback: WorkQueue<CID>, options: SwarmFetchOptions): Promise<void> {
  let next = 0
  let gaveUp = false
  const lane = async (): Promise<void> => {
    while (!gaveUp && next < blocks.length) {
      const batch = blocks.slice(next, next + MAX_BATCH)
      next += batch.length
      const result = await exchange.request(owner, batch, options)
      if (result.failed || result.missing.length === batch.length) gaveUp = true
      fallback.push(result.missing)
    }
  }
  await Promise.all(Array.from({ length: options.lanes ?? 2 }, lane))
  fallback.push(blocks.slice(next))
}

/** Workers take batches and try the holders in turn (each puller starts at a different one) */
async function drainToHolders (exchange: BlockExchange, queue: WorkQueue<CID>, swarm: Swarm, options: SwarmFetchOptions): Promise<CID[]> {
  const holders = swarm.holders.filter(h => h !== swarm.self)
  const dead = new Set<string>()
  const unresolved: CID[] = []
  const offset = holders.length === 0 ? 0 : parseInt(createHash('sha256').update(swarm.self).digest('hex').slice(0, 8), 16) % holders.length
  const lane = async (index: number): Promise<void> => {
    for (let batch = await queue.take(MAX_BATCH); batch.length > 0; batch = await queue.take(MAX_BATCH)) {
      let left = batch
      for (let i = 0; i < holders.length && left.length > 0; i++) {
        const holder = holders[(offset + index + i) % holders.length] as string
        if (dead.has(holder)) continue
        const result = await exchange.request(holder, left, options)
        if (result.failed) dead.add(holder)
        left = result.missing
      }
      unresolved.push(...left)
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
