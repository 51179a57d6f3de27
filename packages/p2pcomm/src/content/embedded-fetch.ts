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
    uniqueCids(roots).forEach(root => options.onFetched?.(root))
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
  const { leaves, under } = await leavesOf(roots, components.networked, source, read)
  const fetched = rootsFetched(roots, under, options.onFetched)
  // leaves held before the fetch began are never sent: they count at once
  for (const cid of leaves) if (await components.local.has(cid, read)) fetched.arrived(cid)
  const gaps = await source(leaves, {
    signal: options.signal,
    onStarted: options.onStarted,
    onBlock: (cid, bytes) => { options.onProgress?.(done += bytes); fetched.arrived(cid) }
  })
  await forEach(gaps, options.concurrency ?? 8, async cid => { await readBlock(components.networked, cid, read); fetched.arrived(cid) })
  for (const cid of leaves) if (!await components.local.has(cid, read)) throw new Error(`block ${cid.toString()} is still missing`)
  fetched.rest()
  return { overBitswap: gaps.length }
}

/**
 * Counts each root's leaves as they arrive and reports the root when its last one has. `under`:
 * the roots above each leaf (a leaf two blobs share is under both)
 */
function rootsFetched (roots: CID[], under: Map<string, CID[]>, onFetched: ((root: CID) => void) | undefined): { arrived: (leaf: CID) => void, rest: () => void } {
  const missing = new Map<string, number>()
  for (const above of under.values()) for (const root of above) missing.set(root.toString(), (missing.get(root.toString()) ?? 0) + 1)
  const counted = new Set<string>()
  const reported = new Set<string>()
  const report = (root: CID): void => {
    if (reported.has(root.toString())) return
    reported.add(root.toString())
    onFetched?.(root)
  }
  return {
    arrived: leaf => {
      const key = leaf.toString()
      if (onFetched == null || counted.has(key)) return
      counted.add(key)
      for (const root of under.get(key) ?? []) {
        const left = (missing.get(root.toString()) ?? 1) - 1
        missing.set(root.toString(), left)
        if (left === 0) report(root)
      }
    },
    // the fetch is complete: roots not reported yet (a DAG without leaves) are too
    rest: () => { uniqueCids(roots).forEach(report) }
  }
}

/**
 * The leaf blocks of the DAGs, in order, without duplicates, and the roots above each. Inner nodes
 * are fetched level by level from the source's holders (a 48 MiB layer has a root and two inner
 * nodes above 192 leaves).
 */
async function leavesOf (roots: CID[], blockstore: Pick<Blockstore, 'get'>, source: Source, options: { signal?: AbortSignal }): Promise<{ leaves: CID[], under: Map<string, CID[]> }> {
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
  const under = new Map<string, CID[]>()
  for (const root of uniqueCids(roots)) {
    const own = new Set<string>()
    const visit = (cid: CID): void => {
      if (isDagPb(cid)) { children.get(cid.toString())?.forEach(visit); return }
      leaves.push(cid)
      if (own.has(cid.toString())) return
      own.add(cid.toString())
      under.set(cid.toString(), [...(under.get(cid.toString()) ?? []), root])
    }
    visit(root)
  }
  return { leaves: uniqueCids(leaves), under }
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
