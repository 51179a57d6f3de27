import { MemoryBlockstore } from 'blockstore-core/memory'
import type { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import type { BlockExchange } from '../src/blocks/exchange.js'
import { fromSwarm, type Source } from '../src/content/embedded-fetch.js'
import { pbNode, rawBlock, type Block } from './content-conformance.js'

/** root → two inner nodes → 180 raw leaves, plus a single-leaf blob: the shape of a 45 MiB layer and a config */
async function blobs (): Promise<{ all: Map<string, Block>, roots: CID[], leaves: number, leafBytes: number }> {
  const leaves = await Promise.all(Array.from({ length: 180 }, async () => await rawBlock(1000)))
  const inner = [await pbNode(leaves.slice(0, 100)), await pbNode(leaves.slice(100))]
  const root = await pbNode(inner)
  const config = await rawBlock(300)
  const all = new Map([root, ...inner, ...leaves, config].map(b => [b.cid.toString(), b]))
  return { all, roots: [root.cid, config.cid], leaves: 181, leafBytes: 180 * 1000 + 300 }
}

describe('embedded fetch from a swarm', () => {
  it('asks the source for every block (inner nodes from holders first, level by level) and nothing over bitswap', async () => {
    const { all, roots, leaves, leafBytes } = await blobs()
    const local = new MemoryBlockstore()
    const overBitswap: string[] = []
    const networked = {
      has: async (cid: CID) => await local.has(cid),
      get: async function * (cid: CID) {
        if (!await local.has(cid)) { overBitswap.push(cid.toString()); await local.put(cid, all.get(cid.toString())!.bytes) }
        yield * local.get(cid)
      }
    }
    const calls: Array<{ cids: CID[], holdersOnly: boolean }> = []
    const events: string[] = []
    const source: Source = async (cids, options) => {
      calls.push({ cids, holdersOnly: options.holdersOnly === true })
      options.onStarted?.()
      for (const cid of cids) {
        const block = all.get(cid.toString())!
        await local.put(cid, block.bytes)
        options.onBlock?.(cid, block.bytes.byteLength)
        events.push('block')
      }
      return []
    }
    const progress: number[] = []
    const result = await fromSwarm(roots, { networked, local, exchange: {} as unknown as BlockExchange }, source, {
      onProgress: done => { progress.push(done) }, onStarted: () => { events.push('started') }
    })
    expect(events.filter(e => e === 'started')).toHaveLength(1)
    const inner = calls.filter(c => c.holdersOnly)
    expect(inner.map(c => c.cids.length)).toEqual([1, 2])
    const bulk = calls.filter(c => !c.holdersOnly)
    expect(bulk).toHaveLength(1)
    expect(bulk[0]!.cids).toHaveLength(leaves)
    expect(bulk[0]!.cids.every(c => c.code === 0x55)).toBe(true)
    expect(overBitswap).toEqual([])
    expect(result.overBitswap).toBe(0)
    expect(progress.at(-1)).toBe(leafBytes)
  })

  it('completes over bitswap what the source could not give, and says how much', async () => {
    const { all, roots, leaves } = await blobs()
    const local = new MemoryBlockstore()
    const networked = {
      has: async (cid: CID) => await local.has(cid),
      get: async function * (cid: CID) {
        if (!await local.has(cid)) await local.put(cid, all.get(cid.toString())!.bytes)
        yield * local.get(cid)
      }
    }
    const giveUp: Source = async cids => cids
    const result = await fromSwarm(roots, { networked, local, exchange: {} as unknown as BlockExchange }, giveUp, {})
    expect(result.overBitswap).toBe(leaves)
    for (const block of all.values()) expect(await local.has(block.cid)).toBe(true)
  })

  it('reports each root once, as soon as its last leaf is here and before the fetch ends; roots held already and roots completed over bitswap too', async () => {
    const { all, roots } = await blobs()
    const held = await rawBlock(500)
    all.set(held.cid.toString(), held)
    const given = await rawBlock(400)
    all.set(given.cid.toString(), given)
    const local = new MemoryBlockstore()
    await local.put(held.cid, held.bytes)
    const networked = {
      has: async (cid: CID) => await local.has(cid),
      get: async function * (cid: CID) {
        if (!await local.has(cid)) await local.put(cid, all.get(cid.toString())!.bytes)
        yield * local.get(cid)
      }
    }
    const events: string[] = []
    const name = (cid: CID): string => cid.equals(roots[0]!) ? 'layer' : cid.equals(roots[1]!) ? 'config' : cid.equals(held.cid) ? 'held' : cid.equals(given.cid) ? 'given-up' : 'leaf'
    // gives every leaf but one, in order, and leaves that one to bitswap
    const source: Source = async (cids, options) => {
      for (const cid of cids) {
        if (cid.equals(given.cid) || (options.holdersOnly !== true && await local.has(cid))) continue
        await local.put(cid, all.get(cid.toString())!.bytes)
        if (options.holdersOnly !== true) events.push(`block ${name(cid)}`)
        options.onBlock?.(cid, 1)
      }
      return cids.filter(cid => cid.equals(given.cid))
    }
    await fromSwarm([held.cid, ...roots, given.cid], { networked, local, exchange: {} as unknown as BlockExchange }, source, {
      onFetched: root => { events.push(`fetched ${name(root)}`) }
    })
    events.push('end')
    expect(events.filter(e => e.startsWith('fetched'))).toEqual(['fetched held', 'fetched layer', 'fetched config', 'fetched given-up'])
    // the layer right after its 180th leaf, the config right after its own
    expect(events.indexOf('fetched layer')).toBe(events.lastIndexOf('block leaf') + 1)
    expect(events.indexOf('fetched config')).toBe(events.indexOf('block config') + 1)
    expect(events.indexOf('fetched given-up')).toBeLessThan(events.indexOf('end'))
  })
})
