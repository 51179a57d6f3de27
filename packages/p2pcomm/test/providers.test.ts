import * as dagPb from '@ipld/dag-pb'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { announceable, Providers } from '../src/providers.js'

async function put (bs: MemoryBlockstore, bytes: Uint8Array, code: number): Promise<CID> {
  const cid = CID.createV1(code, await sha256.digest(bytes))
  await bs.put(cid, bytes)
  return cid
}
const rawLeaf = async (bs: MemoryBlockstore, text: string): Promise<CID> => put(bs, new TextEncoder().encode(text), raw.code)
async function node (bs: MemoryBlockstore, type: 'directory' | 'hamt-sharded-directory' | 'file', links: Array<[string, CID]>): Promise<CID> {
  const data = new UnixFS({ type, ...(type === 'hamt-sharded-directory' ? { fanout: 256n, hashType: 0x22n } : {}) })
  return put(bs, dagPb.encode(dagPb.prepare({ Data: data.marshal(), Links: links.map(([Name, Hash]) => ({ Name, Hash })) })), dagPb.code)
}

/** An OCI-layout-shaped DAG: root → blobs → sha256 (a HAMT shard with a sub-shard) → files */
async function layout (bs: MemoryBlockstore): Promise<{ root: CID, expected: CID[], chunks: CID[] }> {
  const small = await rawLeaf(bs, 'index')
  const chunks = [await rawLeaf(bs, 'chunk 1'), await rawLeaf(bs, 'chunk 2')]
  const bigFile = await node(bs, 'file', chunks.map((c, i) => [`${i}`, c]))
  const subShard = await node(bs, 'hamt-sharded-directory', [['01bbbb', small]])
  const sha = await node(bs, 'hamt-sharded-directory', [['00aaaa', bigFile], ['01', subShard]])
  const blobs = await node(bs, 'directory', [['sha256', sha]])
  const root = await node(bs, 'directory', [['blobs', blobs], ['index.json', small]])
  return { root, expected: [root, blobs, small, sha, bigFile, subShard, small], chunks }
}

const collect = async (it: AsyncIterable<CID>): Promise<string[]> => { const out: string[] = []; for await (const c of it) out.push(c.toString()); return out }

describe('announceable', () => {
  it('gives the root, every directory and shard, and every file, never a file\'s chunks', async () => {
    const bs = new MemoryBlockstore()
    const { root, expected, chunks } = await layout(bs)
    const got = await collect(announceable(root, bs, true))
    expect(new Set(got)).toEqual(new Set(expected.map(String)))
    for (const chunk of chunks) expect(got).not.toContain(chunk.toString())
  })

  it('gives only the root of a pin that is not recursive', async () => {
    const bs = new MemoryBlockstore()
    const { root } = await layout(bs)
    expect(await collect(announceable(root, bs, false))).toEqual([root.toString()])
  })

  it('skips what is not held here instead of fetching it', async () => {
    const bs = new MemoryBlockstore()
    const missing = CID.createV1(dagPb.code, await sha256.digest(new TextEncoder().encode('elsewhere')))
    const root = await node(bs, 'directory', [['gone', missing]])
    expect(await collect(announceable(root, bs, true))).toEqual([root.toString()])
  })
})

describe('Providers', () => {
  function routing (): { provided: string[], cancelled: string[], contentRouting: any } {
    const provided: string[] = []
    const cancelled: string[] = []
    return {
      provided,
      cancelled,
      contentRouting: {
        provide: async (cid: CID) => { provided.push(cid.toString()) },
        cancelReprovide: async (cid: CID) => { cancelled.push(cid.toString()) }
      }
    }
  }

  it('announces each CID once, and withdraws what it announced', async () => {
    const bs = new MemoryBlockstore()
    const { root, expected } = await layout(bs)
    const r = routing()
    const providers = new Providers({ libp2p: { contentRouting: r.contentRouting }, blockstore: bs, log: pino({ level: 'silent' }), concurrency: 2 })
    await providers.announce(root, { recursive: true })
    await expect.poll(() => providers.stats().announced).toBe(new Set(expected.map(String)).size)
    expect(new Set(r.provided)).toEqual(new Set(expected.map(String)))
    expect(r.provided.length).toBe(new Set(r.provided).size)
    await providers.withdraw(root, { recursive: true })
    expect(new Set(r.cancelled)).toEqual(new Set(expected.map(String)))
  })

  it('announces what a second pin holds no second time, and keeps it announced until its last pin goes', async () => {
    const bs = new MemoryBlockstore()
    const { root, expected } = await layout(bs)
    const file = expected[4] as CID // bigFile: held by the layout's pin and by a pin of its own
    const r = routing()
    const providers = new Providers({ libp2p: { contentRouting: r.contentRouting }, blockstore: bs, log: pino({ level: 'silent' }) })
    await providers.announce(root, { recursive: true })
    await expect.poll(() => providers.stats().announced).toBe(new Set(expected.map(String)).size)
    await providers.announce(file, { recursive: true })
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(r.provided.filter(c => c === file.toString())).toHaveLength(1)
    expect(providers.stats()).toMatchObject({ announced: new Set(expected.map(String)).size, queued: 0 })
    await providers.withdraw(root, { recursive: true })
    expect(r.cancelled).not.toContain(file.toString())
    expect(r.cancelled).toContain(root.toString())
    await providers.withdraw(file, { recursive: true })
    expect(r.cancelled).toContain(file.toString())
    // announced again once a pin holds it again
    await providers.announce(file, { recursive: true })
    await expect.poll(() => r.provided.filter(c => c === file.toString()).length).toBe(2)
  })

  it('waits while told to yield, then announces', async () => {
    const bs = new MemoryBlockstore()
    const { root, expected } = await layout(bs)
    const r = routing()
    let transferring = true
    const providers = new Providers({ libp2p: { contentRouting: r.contentRouting }, blockstore: bs, log: pino({ level: 'silent' }), yieldTo: () => transferring })
    try {
      await providers.announce(root, { recursive: true })
      await new Promise(resolve => setTimeout(resolve, 1_500))
      expect(r.provided).toEqual([])
      expect(providers.stats().queued).toBe(new Set(expected.map(String)).size)
      transferring = false
      await expect.poll(() => providers.stats().announced, { timeout: 5_000 }).toBe(new Set(expected.map(String)).size)
    } finally {
      providers.stop()
    }
  })

  it('counts a failed announcement and goes on with the others', async () => {
    const bs = new MemoryBlockstore()
    const { root } = await layout(bs)
    let calls = 0
    const contentRouting = { provide: async () => { if (calls++ === 0) throw new Error('no peers'); }, cancelReprovide: async () => {} }
    const providers = new Providers({ libp2p: { contentRouting } as any, blockstore: bs, log: pino({ level: 'silent' }) })
    await providers.announce(root, { recursive: true })
    await expect.poll(() => providers.stats().announced + providers.stats().failed).toBe(6)
    expect(providers.stats().failed).toBe(1)
  })
})
