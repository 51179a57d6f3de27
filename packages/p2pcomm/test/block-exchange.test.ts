import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { pino } from 'pino'
import { Uint8ArrayList } from 'uint8arraylist'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BLOCKS_PROTOCOL, SKELETON_PROTOCOL } from '../src/constants.js'
import { decodeRequest, encodeRequest, verifyBlock, MAX_BATCH } from '../src/blocks/protocol.js'
import { ownersOf, swarmFetch } from '../src/blocks/swarm-fetch.js'
import type { BlockExchange, RequestOptions, RequestResult } from '../src/blocks/exchange.js'
import { awaitingFetches, createMeshNode, DiskFullError, localFirst, type MeshNode } from '../src/index.js'
import { MemoryBlockstore } from 'blockstore-core/memory'

interface Block { cid: CID, bytes: Uint8Array }

async function randomBlock (size: number): Promise<Block> {
  const bytes = randomBytes(size)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

describe('localFirst', () => {
  it('reads a block held here from the local store, and only a missing one through the networked store', async () => {
    const [here, elsewhere] = await Promise.all([randomBlock(100), randomBlock(100)])
    const local = new MemoryBlockstore()
    await local.put(here.cid, here.bytes)
    const asked: string[] = []
    const networked = new MemoryBlockstore()
    await networked.put(elsewhere.cid, elsewhere.bytes)
    const get = networked.get.bind(networked)
    networked.get = (cid, options) => { asked.push(cid.toString()); return get(cid, options) }
    const view = localFirst(networked, local)
    const read = async (cid: CID): Promise<Buffer> => { const parts: Uint8Array[] = []; for await (const part of view.get(cid)) parts.push(part); return Buffer.concat(parts) }
    expect((await read(here.cid)).equals(here.bytes)).toBe(true)
    expect((await read(elsewhere.cid)).equals(elsewhere.bytes)).toBe(true)
    expect(asked).toEqual([elsewhere.cid.toString()])
    expect(await view.has(elsewhere.cid)).toBe(true) // everything but get is the networked store's
  })
})

describe('block request wire format', () => {
  it('round-trips a request and refuses what the mesh never serves', async () => {
    const { cid } = await randomBlock(10)
    expect(decodeRequest(encodeRequest([cid])).cids.map(c => c.toString())).toEqual([cid.toString()])
    expect(decodeRequest(encodeRequest([cid])).spare).toBe(false)
    expect(decodeRequest(encodeRequest([cid], { spare: true })).spare).toBe(true)
    const bad = (body: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(body))
    expect(() => decodeRequest(bad({ cids: [cid.toString()], spare: 'yes' }))).toThrow(/spare must be true or false/)
    expect(() => decodeRequest(new Uint8Array([0xff]))).toThrow(/not JSON/)
    expect(() => decodeRequest(bad({ cids: [] }))).toThrow(/1–16 cids/)
    expect(() => decodeRequest(bad({ cids: Array(MAX_BATCH + 1).fill(cid.toString()) }))).toThrow(/1–16 cids/)
    expect(() => decodeRequest(bad({ cids: ['nope'] }))).toThrow(/invalid cid/)
    // identity multihash: not content-addressed storage
    expect(() => decodeRequest(bad({ cids: ['bafkqaaa'] }))).toThrow(/unsupported cid/)
  })

  it('accepts a block only when its sha256 matches the CID', async () => {
    const { cid, bytes } = await randomBlock(1000)
    expect(await verifyBlock(cid, bytes)).toBe(true)
    const tampered = Uint8Array.from(bytes)
    tampered[0] = (tampered[0] ?? 0) ^ 1
    expect(await verifyBlock(cid, tampered)).toBe(false)
  })

  it('checks a block given as the frames it arrived in, part by part', async () => {
    const { cid, bytes } = await randomBlock(200_000)
    const frames = (b: Uint8Array): Uint8ArrayList => new Uint8ArrayList(b.subarray(0, 1), b.subarray(1, 65_536), b.subarray(65_536))
    expect(await verifyBlock(cid, frames(bytes))).toBe(true)
    const tampered = Uint8Array.from(bytes)
    tampered[100_000] = (tampered[100_000] ?? 0) ^ 1
    expect(await verifyBlock(cid, frames(tampered))).toBe(false)
    expect(await verifyBlock(cid, new Uint8ArrayList(bytes.subarray(0, 1000)))).toBe(false)
  })
})

describe('block owners', () => {
  it('gives every puller an equal share, the same whatever order the blocks are listed in', async () => {
    const cids = await Promise.all(Array.from({ length: 808 }, async (_, i) => CID.createV1(raw.code, await sha256.digest(Uint8Array.of(i % 256, i >> 8)))))
    const pullers = ['12D3KooWa', '12D3KooWb', '12D3KooWc']
    const owners = ownersOf(cids, pullers)
    const shares = pullers.map(p => [...owners.values()].filter(o => o === p).length)
    expect(shares.reduce((a, b) => a + b)).toBe(808)
    // at most ceil(808 / 3) each, so at least 808 - 2 × 270 (plain rendezvous hashing: ±13)
    expect(Math.max(...shares)).toBeLessThanOrEqual(270)
    expect(Math.min(...shares)).toBeGreaterThanOrEqual(268)
    expect(ownersOf([...cids].reverse(), [...pullers].reverse())).toEqual(owners)
  })
})

describe('swarm fetch endgame', () => {
  const cidsOf = async (n: number, seed: number): Promise<CID[]> => await Promise.all(Array.from({ length: n }, async (_, i) => CID.createV1(raw.code, await sha256.digest(Uint8Array.of(seed, i % 256, i >> 8)))))

  /** A holder that answers at once, spare requests only once `idle`, and an owner that gives a block every 5 ms */
  function twinExchange (idle: () => boolean): { exchange: BlockExchange, asked: Array<{ peer: string, spare: boolean, blocks: number }> } {
    const asked: Array<{ peer: string, spare: boolean, blocks: number }> = []
    const exchange = {
      missing: async (list: CID[]) => list,
      want: () => () => {},
      connected: () => true,
      request: async (peer: string, batch: CID[], options: RequestOptions = {}): Promise<RequestResult> => {
        const spare = options.spare === true
        asked.push({ peer, spare, blocks: batch.length })
        if (spare && !idle()) return { missing: batch, failed: false }
        for (const cid of batch) {
          if (peer === 'slow') await new Promise(resolve => setTimeout(resolve, 5))
          options.onBlock?.(cid, 1)
        }
        return { missing: [], failed: false }
      }
    } as unknown as BlockExchange
    return { exchange, asked }
  }

  it('takes the back of a lagging owner\'s share from an idle holder once its own share is here, with spare requests only', async () => {
    const cids = await cidsOf(256, 7)
    const { exchange, asked } = twinExchange(() => true)
    expect(await swarmFetch(exchange, cids, { self: 'self', holders: ['holder'], pullers: ['self', 'slow'] })).toEqual([])
    const fromHolder = asked.filter(a => a.peer === 'holder')
    const spare = fromHolder.filter(a => a.spare).reduce((n, a) => n + a.blocks, 0)
    const own = fromHolder.filter(a => !a.spare).reduce((n, a) => n + a.blocks, 0)
    const relayed = asked.filter(a => a.peer === 'slow').reduce((n, a) => n + a.blocks, 0)
    expect(own).toBe(128)
    // the slow owner's 128 blocks: some relayed, the rest taken from the holder; none twice
    expect(spare).toBeGreaterThan(16)
    expect(spare + relayed).toBe(128)
  })

  it('gives the blocks back to their owner while the holder is busy', async () => {
    const cids = await cidsOf(256, 8)
    const { exchange, asked } = twinExchange(() => false)
    expect(await swarmFetch(exchange, cids, { self: 'self', holders: ['holder'], pullers: ['self', 'slow'] })).toEqual([])
    expect(asked.filter(a => a.peer === 'slow').reduce((n, a) => n + a.blocks, 0)).toBe(128)
    expect(asked.some(a => a.spare)).toBe(true)
  })
})

describe('swarm fetch between real libp2p nodes', () => {
  const dirs: string[] = []
  let holder: MeshNode, a: MeshNode, b: MeshNode
  let blocks: Block[]

  async function node (bootstrap: string[] = [], admitBlocks?: (bytes: number) => void): Promise<MeshNode> {
    const dataDir = await mkdtemp(join(tmpdir(), 'dm-blocks-'))
    dirs.push(dataDir)
    return createMeshNode({
      dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootstrap.map(a => multiaddr(a)),
      self: () => ({ version: 'test', docker: false }), log: pino({ level: 'silent' }), admitBlocks
    })
  }

  beforeAll(async () => {
    holder = await node()
    a = await node(holder.multiaddrs())
    b = await node(holder.multiaddrs())
    await a.libp2p.dial(multiaddr(b.multiaddrs()[0] as string))
    blocks = await Promise.all(Array.from({ length: 64 }, async () => randomBlock(256 * 1024)))
    for (const { cid, bytes } of blocks) await holder.helia.blockstore.put(cid, bytes)
  }, 60_000)

  afterAll(async () => {
    for (const n of [holder, a, b]) await n?.stop()
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('two pullers get every block while the holder uploads each about once', async () => {
    const cids = blocks.map(b => b.cid)
    const total = blocks.length * 256 * 1024
    const pullers = [a.peerId, b.peerId]
    const holders = [holder.peerId]
    const [leftA, leftB] = await Promise.all([
      swarmFetch(a.blocks, cids, { self: a.peerId, holders, pullers }),
      swarmFetch(b.blocks, cids, { self: b.peerId, holders, pullers })
    ])
    expect(leftA).toEqual([])
    expect(leftB).toEqual([])
    for (const n of [a, b]) expect(await n.blocks.missing(cids)).toEqual([])
    // without the split the holder would send 2 × total
    expect(holder.blocks.stats().sentBytes).toBeLessThanOrEqual(total * 1.25)
    expect(a.blocks.stats().sentBytes + b.blocks.stats().sentBytes).toBeGreaterThanOrEqual(total * 0.75)
  }, 60_000)

  it('falls back to the holder when an owner is unreachable, and reports what nobody has', async () => {
    const fresh = await Promise.all(Array.from({ length: 8 }, async () => randomBlock(1024)))
    for (const { cid, bytes } of fresh.slice(0, 6)) await holder.helia.blockstore.put(cid, bytes)
    const ghost = (await node()) // a peer that is gone by the time anyone asks it
    const ghostId = ghost.peerId
    await ghost.stop()
    const left = await swarmFetch(a.blocks, fresh.map(f => f.cid), { self: a.peerId, holders: [holder.peerId], pullers: [a.peerId, ghostId] })
    expect(left.map(c => c.toString()).sort()).toEqual(fresh.slice(6).map(f => f.cid.toString()).sort())
    expect(await a.blocks.missing(fresh.slice(0, 6).map(f => f.cid))).toEqual([])
  }, 60_000)

  it('drops a block whose bytes do not match its CID and marks the peer failed', async () => {
    const wanted = await randomBlock(2048)
    const impostor = await node()
    await impostor.libp2p.unhandle(BLOCKS_PROTOCOL)
    await impostor.libp2p.handle(BLOCKS_PROTOCOL, async stream => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.writeV([Uint8Array.of(1), randomBytes(2048)])
      await stream.close()
    })
    try {
      await a.libp2p.dial(multiaddr(impostor.multiaddrs()[0] as string))
      const result = await a.blocks.request(impostor.peerId, [wanted.cid])
      expect(result.failed).toBe(true)
      expect(result.missing.map(c => c.toString())).toEqual([wanted.cid.toString()])
      expect(await a.blocks.missing([wanted.cid])).toHaveLength(1)
    } finally {
      await impostor.stop()
    }
  }, 30_000)

  it('holds a request for a block the responder is fetching, and answers when it arrives', async () => {
    const late = await randomBlock(4096)
    const release = b.blocks.want([late.cid])
    const asked = a.blocks.request(b.peerId, [late.cid])
    await new Promise(resolve => setTimeout(resolve, 700))
    await holder.helia.blockstore.put(late.cid, late.bytes)
    expect(await b.blocks.request(holder.peerId, [late.cid])).toEqual({ missing: [], failed: false })
    expect(await asked).toEqual({ missing: [], failed: false })
    release()
  }, 30_000)

  it('answers a spare request while it answers no other, and "don\'t have" while it does', async () => {
    // a responder that has sent nothing before: no measure of its upload, only of its requests
    const c = await node(holder.multiaddrs())
    try {
      await a.libp2p.dial(multiaddr(c.multiaddrs()[0] as string))
      const [spareBlock, late] = await Promise.all([randomBlock(4096), randomBlock(4096)])
      await holder.helia.blockstore.put(spareBlock.cid, spareBlock.bytes)
      // idle (no other request answered for half a second): a spare request gets what the holder has
      await new Promise(resolve => setTimeout(resolve, 600))
      expect(await a.blocks.request(holder.peerId, [spareBlock.cid], { spare: true })).toEqual({ missing: [], failed: false })
      // c answers a request for a block it is fetching (held until it arrives): busy
      const release = c.blocks.want([late.cid])
      const held = a.blocks.request(c.peerId, [late.cid])
      await new Promise(resolve => setTimeout(resolve, 300))
      await c.helia.blockstore.put(spareBlock.cid, spareBlock.bytes)
      const busy = await holder.blocks.request(c.peerId, [spareBlock.cid], { spare: true })
      expect(busy.failed).toBe(false)
      expect(busy.missing.map(c => c.toString())).toEqual([spareBlock.cid.toString()])
      // a normal request is answered meanwhile, and once the held one is over the spare one is too
      expect(await holder.blocks.request(c.peerId, [spareBlock.cid])).toEqual({ missing: [], failed: false })
      await c.helia.blockstore.put(late.cid, late.bytes)
      expect(await held).toEqual({ missing: [], failed: false })
      release()
      // a moment after: still no spare upload (the gap before a requester's next request)
      expect((await holder.blocks.request(c.peerId, [spareBlock.cid], { spare: true })).missing).toHaveLength(1)
      await new Promise(resolve => setTimeout(resolve, 600))
      expect(await holder.blocks.request(c.peerId, [spareBlock.cid], { spare: true })).toEqual({ missing: [], failed: false })
    } finally {
      await c.stop()
    }
  }, 30_000)

  it('answers a spare request while the requests it answers leave its upload far below its best', async () => {
    const c = await node(holder.multiaddrs())
    try {
      await a.libp2p.dial(multiaddr(c.multiaddrs()[0] as string))
      // a burst: c's best second is now several MiB/s
      const burst = await Promise.all(Array.from({ length: 16 }, async () => randomBlock(256 * 1024)))
      for (const block of burst) await c.helia.blockstore.put(block.cid, block.bytes)
      expect((await a.blocks.request(c.peerId, burst.map(b => b.cid))).missing).toEqual([])
      const [spareBlock, late] = await Promise.all([randomBlock(4096), randomBlock(4096)])
      await c.helia.blockstore.put(spareBlock.cid, spareBlock.bytes)
      // c answers a request held for a block it is fetching, and sends nothing meanwhile
      const release = c.blocks.want([late.cid])
      const held = a.blocks.request(c.peerId, [late.cid])
      await new Promise(resolve => setTimeout(resolve, 1_200))
      expect(await holder.blocks.request(c.peerId, [spareBlock.cid], { spare: true })).toEqual({ missing: [], failed: false })
      await c.helia.blockstore.put(late.cid, late.bytes)
      expect(await held).toEqual({ missing: [], failed: false })
      release()
    } finally {
      await c.stop()
    }
  }, 30_000)

  it('tells a node that only serves its peers from one that passes on the blocks it receives', async () => {
    const block = await randomBlock(4096)
    await b.helia.blockstore.put(block.cid, block.bytes)
    expect(await a.blocks.request(b.peerId, [block.cid])).toEqual({ missing: [], failed: false })
    // b answered a moment ago; a received a block a moment ago
    expect(b.blocks.onlyServing(0)).toBe(true)
    expect(a.blocks.onlyServing(60_000)).toBe(false)
    // b still counts as serving within its memory of the last answer, and no longer after it
    await new Promise(resolve => setTimeout(resolve, 600))
    expect(b.blocks.onlyServing(0)).toBe(true)
    expect(b.blocks.onlyServing(0, 500)).toBe(false)
    // both moved blocks: work that can wait waits, within the same memory
    expect(a.blocks.transferring()).toBe(true)
    expect(b.blocks.transferring()).toBe(true)
    expect(a.blocks.transferring(500)).toBe(false)
    expect(b.blocks.transferring(500)).toBe(false)
  })

  it('lets a reader wait for a block being fetched instead of fetching it again, and lets go when the fetch gives up', async () => {
    const [coming, abandoned, absent] = await Promise.all([randomBlock(1000), randomBlock(1000), randomBlock(1000)])
    const view = awaitingFetches(a.helia.blockstore, a.blocks)
    await a.blocks.whenFetched(absent.cid) // nobody fetches it: no wait
    const release = a.blocks.want([coming.cid, abandoned.cid])
    const order: string[] = []
    const reading = (async () => {
      const parts: Uint8Array[] = []
      for await (const part of view.get(coming.cid)) parts.push(part)
      order.push('read')
      return Buffer.concat(parts)
    })()
    const waiting = a.blocks.whenFetched(abandoned.cid).then(() => { order.push('released') })
    await new Promise(resolve => setTimeout(resolve, 300))
    order.push('stored')
    await holder.helia.blockstore.put(coming.cid, coming.bytes)
    await a.blocks.request(holder.peerId, [coming.cid])
    expect(Buffer.from(await reading).equals(coming.bytes)).toBe(true)
    release()
    await waiting
    expect(order).toEqual(['stored', 'read', 'released'])
  }, 30_000)

  it('ends a read gone to the network when a fetch that began after it stores the block here', async () => {
    const late = await randomBlock(4096)
    // a source only the block exchange reaches: no bitswap there
    const source = await node(holder.multiaddrs())
    try {
      for (const protocol of source.libp2p.getProtocols().filter(p => p.startsWith('/ipfs/bitswap/'))) await source.libp2p.unhandle(protocol)
      await a.libp2p.dial(multiaddr(source.multiaddrs()[0] as string))
      await source.localBlockstore.put(late.cid, late.bytes)
      const view = awaitingFetches(localFirst(a.helia.blockstore, a.localBlockstore), a.blocks)
      const started = Date.now()
      // no fetch wants it: the read goes to bitswap, where nobody can give it
      const reading = (async () => {
        const parts: Uint8Array[] = []
        for await (const part of view.get(late.cid, { signal: AbortSignal.timeout(15_000) })) parts.push(part)
        return Buffer.concat(parts)
      })()
      await new Promise(resolve => setTimeout(resolve, 500))
      expect(await a.blocks.request(source.peerId, [late.cid])).toEqual({ missing: [], failed: false })
      expect((await reading).equals(late.bytes)).toBe(true)
      expect(Date.now() - started).toBeLessThan(5_000)
    } finally {
      await source.stop()
    }
  }, 30_000)

  it('fails a fetch whose blocks this node cannot store (disk full), instead of blaming the peer and asking forever', async () => {
    const full = await node(holder.multiaddrs(), () => { throw new DiskFullError('disk full: no space left on the device of /data (ENOSPC)') })
    try {
      await full.libp2p.dial(multiaddr(holder.multiaddrs()[0] as string))
      const cids = blocks.slice(0, 4).map(b => b.cid)
      await expect(full.blocks.request(holder.peerId, cids)).rejects.toThrow(/^disk full: no space left/)
      await expect(swarmFetch(full.blocks, cids, { self: full.peerId, holders: [holder.peerId], pullers: [] })).rejects.toBeInstanceOf(DiskFullError)
      expect(full.blocks.stats().failedRequests).toBe(0)
    } finally {
      await full.stop()
    }
  }, 30_000)

  it('keeps and counts the blocks stored before the disk filled mid-request (received blocks are stored while the next ones arrive)', async () => {
    let admitted = 0
    const filling = await node(holder.multiaddrs(), () => { if (++admitted > 5) throw new DiskFullError('disk full: --max-disk reached') })
    try {
      await filling.libp2p.dial(multiaddr(holder.multiaddrs()[0] as string))
      const batch = blocks.slice(0, 16)
      await expect(filling.blocks.request(holder.peerId, batch.map(b => b.cid))).rejects.toBeInstanceOf(DiskFullError)
      const held = await Promise.all(batch.map(async b => await filling.localBlockstore.has(b.cid)))
      expect(held).toEqual(batch.map((_, i) => i < 5))
      expect(filling.blocks.stats().receivedBytes).toBe(5 * 256 * 1024)
      expect(filling.blocks.stats().failedRequests).toBe(0)
    } finally {
      await filling.stop()
    }
  }, 30_000)

  it('asks the holders it is connected to, not one that has gone (a stopped node stays a holder in the store)', async () => {
    const gone = await node()
    const late = await node(holder.multiaddrs())
    try {
      await late.libp2p.dial(multiaddr(holder.multiaddrs()[0] as string))
      await late.libp2p.dial(multiaddr(gone.multiaddrs()[0] as string))
      await gone.stop()
      const cids = blocks.slice(0, 32).map(b => b.cid)
      // both orders: whichever holder a lane would start at, the gone one is not asked
      for (const holders of [[gone.peerId, holder.peerId], [holder.peerId, gone.peerId]]) {
        const left = await swarmFetch(late.blocks, cids, { self: late.peerId, holders, pullers: [] })
        expect(left).toEqual([])
      }
      expect(late.blocks.stats().failedRequests).toBe(0)
      expect(late.blocks.stats().receivedBytes).toBe(32 * 256 * 1024)
    } finally {
      await late.stop()
    }
  }, 30_000)

  it('gets every block from the other holders when one cannot be dialled, asking the gone one a few times at most', async () => {
    const gone = await node()
    const late = await node(holder.multiaddrs())
    try {
      await late.libp2p.dial(multiaddr(gone.multiaddrs()[0] as string))
      await gone.stop()
      // no connection to either holder: the fetch dials them, and the gone one fails once per lane at most
      await late.libp2p.hangUp(holder.peerId)
      const small = await Promise.all(Array.from({ length: 256 }, async () => randomBlock(1024)))
      for (const { cid, bytes } of small) await holder.helia.blockstore.put(cid, bytes)
      const left = await swarmFetch(late.blocks, small.map(b => b.cid), { self: late.peerId, holders: [gone.peerId, holder.peerId], pullers: [] })
      expect(left).toEqual([])
      // at most one per lane (3) that tried it before the first failure came back (it is then struck out)
      expect(late.blocks.stats().failedRequests).toBeLessThanOrEqual(3)
    } finally {
      await late.stop()
    }
  }, 30_000)

  it('retries a holder whose first requests fail, instead of giving up on it', async () => {
    const flaky = await node(holder.multiaddrs())
    try {
      const fresh = await Promise.all(Array.from({ length: 4 }, async () => randomBlock(1024)))
      for (const { cid, bytes } of fresh) await flaky.helia.blockstore.put(cid, bytes)
      await a.libp2p.dial(multiaddr(flaky.multiaddrs()[0] as string))
      // the first requests cannot be answered…
      await flaky.libp2p.unhandle(BLOCKS_PROTOCOL)
      await flaky.libp2p.unhandle(SKELETON_PROTOCOL)
      setTimeout(() => { void flaky.blocks.start() }, 300) // …then it serves again
      const before = a.blocks.stats().failedRequests
      const left = await swarmFetch(a.blocks, fresh.map(f => f.cid), { self: a.peerId, holders: [flaky.peerId], pullers: [] })
      expect(left).toEqual([])
      expect(a.blocks.stats().failedRequests).toBeGreaterThan(before)
    } finally {
      await flaky.stop()
    }
  }, 30_000)
})
