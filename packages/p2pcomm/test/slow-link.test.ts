import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createMeshNode, type MeshNode } from '../src/index.js'

const RATE = 160 * 1024 // bytes per second, holder → puller
const TICK_MS = 20

/**
 * A TCP relay whose server → client direction is a slow link: it forwards at RATE and stops
 * reading from the server while it has a few ticks' worth queued, so the backlog builds up in
 * the sender's socket, as behind a real bottleneck.
 */
async function slowLink (target: number): Promise<{ port: number, server: Server }> {
  const sockets = new Set<Socket>()
  const server = createServer(client => {
    const upstream = createConnection(target, '127.0.0.1')
    sockets.add(client).add(upstream)
    client.pipe(upstream)
    const queue: Buffer[] = []
    let queued = 0
    upstream.on('data', (chunk: Buffer) => {
      queue.push(chunk)
      queued += chunk.byteLength
      if (queued > RATE / 10) upstream.pause()
    })
    const timer = setInterval(() => {
      let budget = Math.floor(RATE * TICK_MS / 1000)
      while (budget > 0 && queue.length > 0) {
        const head = queue.shift() as Buffer
        const part = head.subarray(0, budget)
        if (part.byteLength < head.byteLength) queue.unshift(head.subarray(part.byteLength))
        client.write(part)
        budget -= part.byteLength
        queued -= part.byteLength
      }
      if (queued <= RATE / 10) upstream.resume()
    }, TICK_MS)
    const close = (): void => { clearInterval(timer); client.destroy(); upstream.destroy() }
    client.on('close', close).on('error', close)
    upstream.on('close', close).on('error', close)
  })
  server.on('close', () => { sockets.forEach(s => s.destroy()) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port, server }
}

describe('a saturated link', () => {
  const dirs: string[] = []
  const nodes: MeshNode[] = []
  let link: Server | undefined

  async function node (): Promise<MeshNode> {
    const dataDir = await mkdtemp(join(tmpdir(), 'dm-slow-'))
    dirs.push(dataDir)
    const n = await createMeshNode({
      dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [],
      self: () => ({ version: 'test', docker: false }), log: pino({ level: 'silent' })
    })
    nodes.push(n)
    return n
  }

  afterAll(async () => {
    for (const n of nodes) await n.stop()
    link?.close()
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  // libp2p's connection monitor aborted a connection whose ping took over 5 s (and the ping
  // handler gave up after 10 s); on a full link pings wait behind the blocks already sent, so
  // transfers died every 10 s (bench/distribution)
  it('keeps the connection while pings queue behind a long transfer', async () => {
    const holder = await node()
    const holderPort = Number(holder.multiaddrs()[0]?.split('/tcp/')[1]?.split('/')[0])
    const relay = await slowLink(holderPort)
    link = relay.server
    const puller = await node()
    await puller.libp2p.dial(multiaddr(`/ip4/127.0.0.1/tcp/${relay.port}/p2p/${holder.peerId}`))
    const blocks = await Promise.all(Array.from({ length: 16 }, async () => {
      const bytes = randomBytes(256 * 1024)
      return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
    }))
    for (const { cid, bytes } of blocks) await holder.helia.blockstore.put(cid, bytes)
    const before = puller.libp2p.getConnections()[0]?.id
    const started = Date.now()
    // 4 MiB at 160 KiB/s: ~26 s; the first pings (10 s in) wait ~15 s behind the blocks
    const result = await puller.blocks.request(holder.peerId, blocks.map(b => b.cid))
    expect(Date.now() - started).toBeGreaterThan(20_000)
    expect(result).toEqual({ missing: [], failed: false })
    expect(puller.libp2p.getConnections().map(c => c.id)).toEqual([before])
  }, 60_000)
})
