import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SkeletonCheck, skeletonOf, END_OF_SKELETON } from '../src/blocks/skeleton.js'
import { BlockRequestError } from '../src/blocks/protocol.js'
import { SKELETON_PROTOCOL } from '../src/constants.js'
import { embeddedContent } from '../src/content/embedded.js'
import { createMeshNode, type MeshNode } from '../src/node.js'

interface Block { cid: CID, bytes: Uint8Array }

async function rawBlock (size: number): Promise<Block> {
  const bytes = randomBytes(size)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

async function node (type: 'directory' | 'file', children: Array<{ name: string, block: Block }>): Promise<Block> {
  const bytes = dagPb.encode(dagPb.prepare({
    Data: new UnixFS({ type }).marshal(),
    Links: children.map(c => ({ Name: c.name, Hash: c.block.cid, Tsize: c.block.bytes.byteLength }))
  }))
  return { cid: CID.createV1(dagPb.code, await sha256.digest(bytes)), bytes }
}

/** An image layout in miniature: root/{index.json, blobs/{config, layer}}; the layer a file of an inner node and three leaves */
async function layout (): Promise<{ root: Block, skeleton: Block[], leaves: Block[], all: Map<string, Block> }> {
  const leaves = await Promise.all([rawBlock(3000), rawBlock(3000), rawBlock(3000)])
  const inner = await node('file', [{ name: '', block: leaves[0]! }, { name: '', block: leaves[1]! }])
  const layer = await node('file', [{ name: '', block: inner }, { name: '', block: leaves[2]! }])
  const config = await rawBlock(200)
  const blobs = await node('directory', [{ name: 'config', block: config }, { name: 'layer', block: layer }])
  const index = await rawBlock(100)
  const root = await node('directory', [{ name: 'blobs', block: blobs }, { name: 'index.json', block: index }])
  const skeleton = [root, blobs, index, config, layer, inner]
  return { root, skeleton, leaves, all: new Map([...skeleton, ...leaves].map(b => [b.cid.toString(), b])) }
}

const ids = (blocks: Array<{ cid: CID }>): string[] => blocks.map(b => b.cid.toString())

describe('a DAG skeleton', () => {
  it('is every dag-pb node and the single-block files of directories, parents first, without file leaves', async () => {
    const { root, skeleton, all } = await layout()
    const got = []
    for await (const block of skeletonOf(root.cid, async cid => all.get(cid.toString())?.bytes)) got.push(block)
    expect(ids(got)).toEqual(ids(skeleton))
  })

  it('reads the next blocks while one is answered, in the same order', async () => {
    const { root, skeleton, all } = await layout()
    let reading = 0
    let most = 0
    const slowRead = async (cid: CID): Promise<Uint8Array | undefined> => {
      most = Math.max(most, ++reading)
      await new Promise(resolve => setTimeout(resolve, 20))
      reading--
      return all.get(cid.toString())?.bytes
    }
    const got = []
    for await (const block of skeletonOf(root.cid, slowRead)) got.push(block)
    expect(ids(got)).toEqual(ids(skeleton))
    expect(most).toBeGreaterThan(1)
  })

  it('skips what the responder does not hold, and stops at its limits', async () => {
    const { root, skeleton, all } = await layout()
    const blobs = skeleton[1]!
    const without = []
    for await (const block of skeletonOf(root.cid, async cid => cid.equals(blobs.cid) ? undefined : all.get(cid.toString())?.bytes)) without.push(block)
    expect(ids(without)).toEqual(ids([root, skeleton[2]!]))
    const limited = []
    for await (const block of skeletonOf(root.cid, async cid => all.get(cid.toString())?.bytes, { blocks: 3, bytes: 1 << 20 })) limited.push(block)
    expect(ids(limited)).toEqual(ids(skeleton.slice(0, 3)))
  })

  it('is checked as it arrives: only blocks under the root, only their own bytes, within the limits', async () => {
    const { root, skeleton, leaves } = await layout()
    const check = new SkeletonCheck(root.cid)
    for (const block of skeleton) await check.accept(check.cid(block.cid.bytes), block.bytes)
    // a file leaf hangs under the root too: a responder may send it, never something else
    await check.accept(check.cid(leaves[0]!.cid.bytes), leaves[0]!.bytes)
    const stranger = await rawBlock(10)
    expect(() => check.cid(stranger.cid.bytes)).toThrow(BlockRequestError)
    expect(() => check.cid(randomBytes(20))).toThrow(BlockRequestError)
    await expect(new SkeletonCheck(root.cid).accept(root.cid, randomBytes(50))).rejects.toThrow(BlockRequestError)
    const small = new SkeletonCheck(root.cid, { blocks: 1, bytes: 1 << 20 })
    await small.accept(root.cid, root.bytes)
    await expect(small.accept(skeleton[1]!.cid, skeleton[1]!.bytes)).rejects.toThrow(/limits/)
  })
})

describe('skeleton requests between real libp2p nodes', () => {
  const dirs: string[] = []
  let holder: MeshNode, puller: MeshNode, liar: MeshNode

  async function meshNode (bootstrap: string[] = []): Promise<MeshNode> {
    const dataDir = await mkdtemp(join(tmpdir(), 'dm-skeleton-'))
    dirs.push(dataDir)
    return await createMeshNode({
      dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootstrap.map(a => multiaddr(a)),
      self: () => ({ version: 'test', docker: false }), log: pino({ level: 'silent' })
    })
  }

  beforeAll(async () => {
    holder = await meshNode()
    puller = await meshNode(holder.multiaddrs())
    liar = await meshNode(holder.multiaddrs())
    await puller.libp2p.dial(multiaddr(liar.multiaddrs()[0] as string))
  }, 60_000)

  afterAll(async () => {
    for (const n of [holder, puller, liar]) await n?.stop()
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('brings the whole skeleton in one request and none of the leaves', async () => {
    const { root, skeleton, leaves, all } = await layout()
    for (const block of all.values()) await holder.helia.blockstore.put(block.cid, block.bytes)
    const result = await puller.blocks.requestSkeleton(holder.peerId, root.cid)
    expect(result).toEqual({ blocks: skeleton.length, failed: false })
    expect(await puller.blocks.missing(skeleton.map(b => b.cid))).toEqual([])
    expect((await puller.blocks.missing(leaves.map(b => b.cid))).map(String)).toEqual(ids(leaves))
  })

  it('counts the holder as serving its peers from the moment the request arrives', async () => {
    const { root, all } = await layout()
    for (const block of all.values()) await holder.helia.blockstore.put(block.cid, block.bytes)
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(holder.blocks.onlyServing(0, 10)).toBe(false)
    // the holder's reads of the skeleton happen while it answers: each sees it serving
    const seen: boolean[] = []
    const read = holder.localBlockstore.get.bind(holder.localBlockstore)
    holder.localBlockstore.get = (cid, options) => { seen.push(holder.blocks.onlyServing(0, 0)); return read(cid, options) }
    try {
      expect((await puller.blocks.requestSkeleton(holder.peerId, root.cid)).failed).toBe(false)
    } finally {
      holder.localBlockstore.get = read
    }
    expect(seen.length).toBeGreaterThan(0)
    expect(seen.every(s => s)).toBe(true)
    // and still a while after the answer: its peers' block requests come next
    expect(holder.blocks.onlyServing(0)).toBe(true)
  })

  it('keeps nothing a peer sends that is not under the root, and says the request failed', async () => {
    const { root } = await layout()
    const planted = await rawBlock(500)
    await liar.libp2p.unhandle(SKELETON_PROTOCOL)
    await liar.libp2p.handle(SKELETON_PROTOCOL, async stream => {
      const lp = lpStream(stream)
      await lp.read()
      await lp.writeV([planted.cid.bytes, planted.bytes, END_OF_SKELETON])
      await stream.close()
    })
    const result = await puller.blocks.requestSkeleton(liar.peerId, root.cid)
    expect(result.failed).toBe(true)
    expect(result.blocks).toBe(0)
    expect(await puller.blocks.missing([planted.cid])).toEqual([planted.cid])
  })

  it('answers a root it does not hold with an empty skeleton', async () => {
    const { root } = await layout()
    expect(await puller.blocks.requestSkeleton(holder.peerId, root.cid)).toEqual({ blocks: 0, failed: false })
  })
})

describe('embedded content reading from a swarm', () => {
  it('brings the skeleton under the first dag-pb block it reads, so the reads below it stay here', async () => {
    const dirs: string[] = []
    const make = async (bootstrap: string[] = []): Promise<MeshNode> => {
      const dataDir = await mkdtemp(join(tmpdir(), 'dm-skeleton-'))
      dirs.push(dataDir)
      return await createMeshNode({
        dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootstrap.map(a => multiaddr(a)),
        self: () => ({ version: 'test', docker: false }), log: pino({ level: 'silent' })
      })
    }
    const holder = await make()
    const reader = await make(holder.multiaddrs())
    try {
      const { root, skeleton, leaves, all } = await layout()
      for (const block of all.values()) await holder.helia.blockstore.put(block.cid, block.bytes)
      const content = embeddedContent({ helia: reader.helia, localBlockstore: reader.localBlockstore, exchange: reader.blocks })
      const swarm = { self: reader.peerId, holders: [holder.peerId], pullers: [] }
      // two readers of the same root at once (the layout reader does this) share one request
      const [a, b] = await Promise.all([content.get(root.cid, { swarm }), content.get(root.cid, { swarm })])
      expect(Buffer.from(a).equals(root.bytes)).toBe(true)
      expect(Buffer.from(b).equals(root.bytes)).toBe(true)
      expect(await reader.blocks.missing(skeleton.map(s => s.cid))).toEqual([])
      expect(await reader.blocks.missing(leaves.map(l => l.cid))).toHaveLength(leaves.length)
      // each skeleton block sent once, in the one skeleton answer: none again by block request
      expect(holder.blocks.stats().sentBytes).toBe(skeleton.reduce((sum, s) => sum + s.bytes.byteLength, 0))
    } finally {
      for (const n of [holder, reader]) await n.stop()
      for (const d of dirs) await rm(d, { recursive: true, force: true })
    }
  }, 60_000)
})
