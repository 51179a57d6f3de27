import { createServer } from 'node:http'
import { describe, expect, it } from 'vitest'
import { KuboDaemon } from '../../../test/helpers/kubo.js'
import { kuboContent } from '../src/content/kubo.js'
import { contentConformance, rawBlock, smallDag, type Block } from './content-conformance.js'

/** The same suite against a real Kubo (test/helpers/kubo.ts: Kubo 0.43.1 on PATH, never skipped) */
contentConformance('kubo', async () => {
  const [kubo, peer] = await Promise.all([KuboDaemon.start(), KuboDaemon.start()])
  const content = kuboContent({ url: kubo.apiUrl })
  return {
    content,
    elsewhere: async (blocks: Block[]) => {
      const other = kuboContent({ url: peer.apiUrl })
      for (const b of blocks) await other.put(b.cid, b.bytes)
      await kubo.ipfs(['swarm', 'connect', peer.swarmAddrs[0] as string])
    },
    close: async () => { await Promise.all([kubo.destroy(), peer.destroy()]) }
  }
})

describe('kuboContent', () => {
  it('hashes what Kubo answers: other bytes for a block are refused', async () => {
    const wanted = await rawBlock(100)
    const other = await rawBlock(100)
    // a stand-in for Kubo's RPC that answers every block/get with the wrong bytes
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/api/v0/block/get') === true) res.end(other.bytes)
      else { res.statusCode = 500; res.end('{"Message":"not here","Code":0,"Type":"error"}') }
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    try {
      await expect(kuboContent({ url: `http://127.0.0.1:${port}` }).get(wanted.cid)).rejects.toMatchObject({ name: 'InvalidBlockError' })
    } finally {
      server.close()
    }
  })

  it('an API nobody answers is ContentUnavailableError, naming the URL', async () => {
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    await new Promise<void>(resolve => server.close(() => { resolve() }))
    const content = kuboContent({ url: `http://127.0.0.1:${port}` })
    await expect(content.stat()).rejects.toMatchObject({ name: 'ContentUnavailableError', message: expect.stringContaining(`127.0.0.1:${port}`) })
    const [block] = await smallDag(1)
    await expect(content.has(block!.cid)).rejects.toMatchObject({ name: 'ContentUnavailableError' })
    const writer = content.writer()
    await expect(Promise.all([writer.put(block!.cid, block!.bytes), writer.close()])).rejects.toMatchObject({ name: 'ContentUnavailableError' })
  })

  it('a writer sends one dag import, however many blocks', async () => {
    const kubo = await KuboDaemon.start()
    try {
      const blocks = await smallDag(30, 10_000)
      const requests: string[] = []
      const seen = (globalThis.fetch as typeof fetch)
      globalThis.fetch = async (input, init) => { requests.push(String(input instanceof Request ? input.url : input)); return await seen(input, init) }
      try {
        const writer = kuboContent({ url: kubo.apiUrl }).writer()
        for (const b of blocks) await writer.put(b.cid, b.bytes)
        await writer.close()
      } finally {
        globalThis.fetch = seen
      }
      expect(requests.filter(u => u.includes('/dag/import'))).toHaveLength(1)
      expect(requests.filter(u => u.includes('/block/put'))).toHaveLength(0)
      // pin-roots=false: the CAR's root (its first block) is stored, not pinned
      expect(await kubo.ipfs(['pin', 'ls', '--type=recursive'])).not.toContain(blocks[0]!.cid.toString())
      for (const b of blocks) await kubo.ipfs(['block', 'stat', '--offline', b.cid.toString()])
    } finally {
      await kubo.destroy()
    }
  })
})
