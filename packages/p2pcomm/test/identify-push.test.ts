import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createMeshNode, generateSwarmKey, parseSwarmKey, type MeshNode } from '../src/index.js'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/**
 * Kubo identifies a new connection before it registers bitswap, then pushes its new protocol
 * list (identify/push). A node that does not take the push never learns the peer speaks bitswap,
 * and Helia's bitswap never sends it a want: a pull through the registry of what only that Kubo
 * held stalled for 60 s (issue 13). Here a peer registers a protocol after the connection's
 * identify, as Kubo does, and the node must learn of it on the same connection.
 */
describe('identify push', () => {
  const nodes: MeshNode[] = []
  const dirs: string[] = []
  const swarmKey = parseSwarmKey(generateSwarmKey())

  async function node (bootstrap: MeshNode[] = []): Promise<MeshNode> {
    const dir = await mkdtemp(join(tmpdir(), 'dm-idpush-'))
    dirs.push(dir)
    const n = await createMeshNode({
      dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootstrap.map(b => multiaddr(b.multiaddrs()[0] as string)), swarmKey,
      self: () => ({ version: 'test', docker: false }), log: pino({ level: 'silent' })
    })
    nodes.push(n)
    return n
  }

  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop()
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
  })

  it('a protocol a peer starts speaking after the connection was identified is learnt without a new connection', async () => {
    const a = await node()
    const b = await node([a])
    const late = '/distromash-test/late/1.0.0'
    const protocolsOfBAtA = async (): Promise<string[]> => (await a.libp2p.peerStore.get(b.libp2p.peerId)).protocols
    for (let i = 0; i < 200 && !(await protocolsOfBAtA().catch(() => [])).includes('/ipfs/id/1.0.0'); i++) await sleep(100)
    const connection = a.libp2p.getConnections(b.libp2p.peerId)[0]
    expect(connection).toBeDefined()
    expect(await protocolsOfBAtA()).not.toContain(late)

    await b.libp2p.handle(late, async stream => { await stream.close() })
    for (let i = 0; i < 100 && !(await protocolsOfBAtA()).includes(late); i++) await sleep(100)
    expect(await protocolsOfBAtA()).toContain(late)
    // learnt over the connection that was already open, not a redial
    expect(a.libp2p.getConnections(b.libp2p.peerId).map(c => c.id)).toContain(connection?.id)
  }, 60_000)
})
