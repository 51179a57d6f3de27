import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { embeddedContent } from '../src/content/embedded.js'
import { memoryContent } from '../src/content/memory.js'
import { createMeshNode, type MeshNode } from '../src/index.js'
import { contentConformance, rawBlock, type Block } from './content-conformance.js'

contentConformance('memory', async () => {
  const network = new Map<string, Uint8Array>()
  return {
    content: memoryContent({ remote: async cid => network.get(cid.toString()) }),
    elsewhere: async (blocks: Block[]) => { for (const b of blocks) network.set(b.cid.toString(), b.bytes) },
    close: async () => {}
  }
})

async function meshNode (dir: string, bootstrap: string[] = []): Promise<MeshNode> {
  return await createMeshNode({
    dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootstrap.map(a => multiaddr(a)),
    self: () => ({ version: 'test', docker: false }), log: pino({ level: 'silent' })
  })
}

contentConformance('embedded (Helia, pack blockstore, bitswap)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dm-content-'))
  const peer = await meshNode(join(dir, 'peer'))
  const node = await meshNode(join(dir, 'node'), peer.multiaddrs())
  const content = embeddedContent({ helia: node.helia, localBlockstore: node.localBlockstore, exchange: node.blocks })
  return {
    content,
    elsewhere: async (blocks: Block[]) => {
      for (const b of blocks) await peer.localBlockstore.put(b.cid, b.bytes)
      // bitswap asks connected peers: wait for the bootstrap connection
      for (let i = 0; i < 100 && node.libp2p.getConnections().length === 0; i++) await new Promise(resolve => setTimeout(resolve, 100))
    },
    close: async () => {
      await node.stop()
      await peer.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
})

describe('embeddedContent', () => {
  it('tells its hooks what it pins and, before the blocks may go, what it unpins', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-content-'))
    const node = await meshNode(dir)
    try {
      const seen: string[] = []
      const content = embeddedContent({ helia: node.helia, localBlockstore: node.localBlockstore, exchange: node.blocks }, {
        onPinned: async (cid, { recursive }) => { seen.push(`pinned ${cid.toString()} ${recursive}`) },
        onUnpinning: async (cid, { recursive }) => { seen.push(`unpinning ${cid.toString()} ${recursive} ${await content.has(cid)}`) }
      })
      const block = await rawBlock()
      await content.put(block.cid, block.bytes)
      await content.pin(block.cid, { depth: 0 })
      await content.unpin(block.cid)
      await content.unpin(block.cid)
      expect(seen).toEqual([`pinned ${block.cid.toString()} false`, `unpinning ${block.cid.toString()} false true`])
    } finally {
      await node.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('memoryContent', () => {
  it('a get waiting for a missing block returns it once it is put', async () => {
    const content = memoryContent()
    const block = await rawBlock()
    const waiting = content.get(block.cid, { signal: AbortSignal.timeout(5000) })
    await content.put(block.cid, block.bytes)
    expect(Buffer.from(await waiting).equals(block.bytes)).toBe(true)
  })
})
