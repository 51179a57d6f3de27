import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { BlockExchange } from '../blocks/exchange.js'
import { swarmFetch, type Swarm } from '../blocks/swarm-fetch.js'
import type { FetchOptions, FetchResult } from './content.js'
import { isDagPb, linksOf, uniqueCids } from './dag.js'

/**
 * Brings DAGs into the embedded node's blockstore: from the swarm of peers replicating them (the
 * block exchange: every leaf verified as it arrives, each holder uploading it about once), then
 * over bitswap whatever the swarm did not give. Without a swarm, every block comes over bitswap.
 */
export interface DagFetchComponents {
  /** Helia's networked view: a missing block comes over bitswap */
  networked: Pick<Blockstore, 'get' | 'has'>
  /** The node's own blocks */
  local: Pick<Blockstore, 'has'>
  exchange: BlockExchange
}

/** Blocks fetched from chosen peers into the local blockstore; returns the CIDs nobody gave */
export type Source = (cids: CID[], options: { signal?: AbortSignal, holdersOnly?: boolean, onBlock?: (cid: CID, bytes: number) => void, onStarted?: () => void }) => Promise<CID[]>

export async function fetchDags (roots: CID[], components: DagFetchComponents, options: FetchOptions & { concurrency?: number } = {}): Promise<FetchResult> {
  const swarm = options.swarm
  if (swarm == null) {
    await readBack(roots, components, options)
    options.onStarted?.()
    return { overBitswap: 0 }
  }
  return await fromSwarm(roots, components, swarmSource(components.exchange, swarm), options)
}

/** Blocks asked of a swarm; `holdersOnly`: small blocks everyone needs first, asked of complete holders */
export function swarmSource (exchange: BlockExchange, swarm: Swarm): Source {
  return async (cids, options) => await swarmFetch(exchange, cids, options.holdersOnly === true ? { ...swarm, pullers: [] } : swarm, options)
}

/**
 * Every leaf from the source (verified against its CID as it arrived), then whatever it could
 * not give over bitswap. No read-back: presence of every leaf is checked instead.
 */
export async function fromSwarm (roots: CID[], components: DagFetchComponents, source: Source, options: FetchOptions & { concurrency?: number }): Promise<FetchResult> {
  const read = { signal: options.signal }
  let done = 0
  const leaves = await leavesOf(roots, components.networked, source, read)
  const gaps = await source(leaves, {
    signal: options.signal,
    onStarted: options.onStarted,
    onBlock: (_, bytes) => { options.onProgress?.(done += bytes) }
  })
  await forEach(gaps, options.concurrency ?? 8, async cid => { await readBlock(components.networked, cid, read) })
  for (const cid of leaves) if (!await components.local.has(cid, read)) throw new Error(`block ${cid.toString()} is still missing`)
  return { overBitswap: gaps.length }
}

/**
 * The leaf blocks of the DAGs, in order, without duplicates. Inner nodes are fetched level by
 * level from the source's holders (a 48 MiB layer has a root and two inner nodes above 192 leaves).
 */
async function leavesOf (roots: CID[], blockstore: Pick<Blockstore, 'get'>, source: Source, options: { signal?: AbortSignal }): Promise<CID[]> {
  const children = new Map<string, CID[]>()
  for (let level = uniqueCids(roots.filter(isDagPb)); level.length > 0;) {
    await source(level, { signal: options.signal, holdersOnly: true })
    const next: CID[] = []
    for (const cid of level) {
      const links = linksOf(cid, await readBlock(blockstore, cid, options))
      children.set(cid.toString(), links)
      next.push(...links.filter(isDagPb))
    }
    level = uniqueCids(next)
  }
  const leaves: CID[] = []
  const visit = (cid: CID): void => {
    if (isDagPb(cid)) children.get(cid.toString())?.forEach(visit)
    else leaves.push(cid)
  }
  roots.forEach(visit)
  return uniqueCids(leaves)
}

/** Without a swarm: read every block through the networked blockstore, which fetches over bitswap what is missing */
async function readBack (roots: CID[], components: DagFetchComponents, options: FetchOptions & { concurrency?: number }): Promise<void> {
  const read = { signal: options.signal }
  let done = 0
  for (let level = uniqueCids(roots); level.length > 0;) {
    const next: CID[] = []
    await forEach(level, options.concurrency ?? 8, async cid => {
      const bytes = await readBlock(components.networked, cid, read)
      if (isDagPb(cid)) next.push(...linksOf(cid, bytes))
      else options.onProgress?.(done += bytes.byteLength)
    })
    level = uniqueCids(next)
  }
}

export async function readBlock (blockstore: Pick<Blockstore, 'get'>, cid: CID, options: { signal?: AbortSignal }): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of blockstore.get(cid, options)) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0] as Uint8Array : Buffer.concat(chunks)
}

async function forEach<T> (items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items]
  const worker = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(queue.length, 1)) }, worker))
}
