import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMeshNode, type MeshNode } from '../src/index.js'

/** Waits for a condition polled every 100 ms, failing with what it was waiting for */
async function until (what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

describe('mesh traffic counters between two real libp2p nodes', () => {
  const dirs: string[] = []
  let a: MeshNode, b: MeshNode

  async function node (bootstrap: string[] = []): Promise<MeshNode> {
    const dataDir = await mkdtemp(join(tmpdir(), 'dm-traffic-'))
    dirs.push(dataDir)
    return createMeshNode({
      dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootstrap.map(addr => multiaddr(addr)),
      self: () => ({ version: 'test', docker: false }), log: pino({ level: 'silent' }), announceIntervalMs: 500
    })
  }

  beforeAll(async () => {
    a = await node()
    b = await node(a.multiaddrs())
    await until('gossip between the two nodes', () => a.libp2p.services.pubsub.getPeers().length > 0 && b.libp2p.services.pubsub.getPeers().length > 0)
  }, 60_000)

  afterAll(async () => {
    for (const n of [a, b]) await n?.stop()
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('counts records gossip and announcements both ways, and sync messages', async () => {
    await a.store.put('traffic/test', { n: 1 })
    await until('the record on b', () => b.traffic().gossip.records.in > 0)
    expect(a.traffic().gossip.records.out).toBeGreaterThanOrEqual(1)
    await until('announcements both ways', () => a.traffic().gossip.announcements.in > 0 && b.traffic().gossip.announcements.out > 0)
    // both ends of a new connection pull: each sends a request and reads an answer
    await until('a sync', () => b.traffic().sync.out > 0 && b.traffic().sync.in > 0)
  }, 30_000)

  it('counts the bytes of a block fetched over bitswap on both ends', async () => {
    const bytes = randomBytes(200_000)
    const cid = CID.createV1(raw.code, await sha256.digest(bytes))
    await a.localBlockstore.put(cid, bytes)
    const before = { a: a.traffic().bitswap, b: b.traffic().bitswap }
    const parts: Uint8Array[] = []
    for await (const part of b.helia.blockstore.get(cid, { signal: AbortSignal.timeout(20_000) })) parts.push(part)
    expect(Buffer.concat(parts).equals(bytes)).toBe(true)
    // the block plus its message framing; the want list the other way is small
    expect(b.traffic().bitswap.received - before.b.received).toBeGreaterThanOrEqual(bytes.byteLength)
    await until('a to count what it sent', () => a.traffic().bitswap.sent - before.a.sent >= bytes.byteLength)
    expect(b.traffic().bitswap.sent - before.b.sent).toBeGreaterThan(0)
    expect(b.traffic().bitswap.sent - before.b.sent).toBeLessThan(10_000)
  }, 30_000)
})
