import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ANNOUNCE_TOPIC } from '../src/constants.js'
import { createMeshNode, generateSwarmKey, loadOrCreatePeerKey, parseSwarmKey, type MeshNode } from '../src/index.js'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const IDENTIFY = '/ipfs/id/1.0.0'
/** libp2p identify's timeout (@libp2p/identify's default) */
const IDENTIFY_TIMEOUT_MS = 5000

/**
 * `n` answers identify requests from `remote` only after the asker's timeout has passed, once: what
 * a node that is busy starting up does (its event loop blocked by module loading, stores opening),
 * seen from either end. The first identify of their connection then fails on both ends.
 */
async function answerIdentifyLate (n: MeshNode, remote: string): Promise<void> {
  const identify = n.libp2p.services.identify as unknown as { handleProtocol: (stream: Stream, connection: Connection) => Promise<void> }
  let late = true
  await n.libp2p.unhandle(IDENTIFY)
  await n.libp2p.handle(IDENTIFY, async (stream, connection) => {
    if (late && connection.remotePeer.toString() === remote) {
      late = false
      await sleep(IDENTIFY_TIMEOUT_MS + 1000)
    }
    await identify.handleProtocol(stream, connection)
  }, { maxInboundStreams: 1, maxOutboundStreams: 1 })
}

async function until (what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await sleep(100)
  }
}

const livePeers = async (n: MeshNode): Promise<string[]> => (await n.peers.list()).filter(p => !p.self && p.live).map(p => p.id)
const gossipPeers = (n: MeshNode): string[] => n.libp2p.services.pubsub.getSubscribers(ANNOUNCE_TOPIC).map(p => p.toString())

describe('peer list', () => {
  const nodes: MeshNode[] = []
  const dirs: string[] = []
  const swarmKey = parseSwarmKey(generateSwarmKey())
  const INTERVAL_MS = 500 // announcements, redials and repairs: every 0.5 s (liveness window 1.5 s)

  async function dataDir (): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'dm-peers-'))
    dirs.push(dir)
    return dir
  }

  async function node (dir: string, bootstrap: MeshNode[] = []): Promise<MeshNode> {
    const n = await createMeshNode({
      dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootstrap.map(b => multiaddr(b.multiaddrs()[0] as string)), swarmKey,
      self: () => ({ version: 'test', docker: false }), log: pino({ level: 'silent' }), announceIntervalMs: INTERVAL_MS
    })
    nodes.push(n)
    return n
  }

  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop()
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
  })

  // while an import's CIDs were announced, the DHT and identify held each peer's peer-store lock
  // for ~0.1 s at a time, and a strategy's assignment (which lists the live peers) waited on them
  it('lists peers without waiting on any one peer\'s peer-store record', async () => {
    const a = await node(await dataDir())
    const b = await node(await dataDir(), [a])
    await until('b connected to a', () => b.libp2p.getPeers().length > 0, 10_000)
    const get = a.libp2p.peerStore.get.bind(a.libp2p.peerStore)
    a.libp2p.peerStore.get = async () => await new Promise(() => {}) // a lock never released
    try {
      const listed = await Promise.race([a.peers.list(), sleep(5_000).then(() => 'waited on a peer record' as const)])
      expect(listed).not.toBe('waited on a peer record')
      const peerB = (listed as Awaited<ReturnType<typeof a.peers.list>>).find(p => p.id === b.peerId)
      expect(peerB?.connected).toBe(true)
      // its addresses still come from the peer store
      expect(peerB?.addrs.some(addr => addr.includes('/tcp/'))).toBe(true)
    } finally {
      a.libp2p.peerStore.get = get
    }
  })

  // bench/scale (30 namespaces, batches of 4 bootstrapping to node 1): 3 nodes of one batch stayed
  // connected to node 1 only, unknown to the 26 others, for the whole 2 min. A node busy starting
  // up answers late right after its bootstrap connection opens; identify (run once per connection,
  // 5 s timeout, never again) then fails on both ends, and gossipsub, which libp2p tells of a
  // connection only once identify has named the peer's protocols, never uses it: no announcement
  // crosses it either way, and since peers learn of each other only from announcements, nobody
  // ever dials the new node nor it anybody.
  it('a node whose only connection lost its gossip still joins the mesh', async () => {
    const a = await node(await dataDir())
    const c = await node(await dataDir(), [a])
    await until('c and a see each other over gossip', () => gossipPeers(a).includes(c.peerId) && gossipPeers(c).includes(a.peerId), 20_000)

    // b's identity is known before it starts, so a can single out b's connections
    const bDir = await dataDir()
    const bId = peerIdFromPrivateKey(await loadOrCreatePeerKey(join(bDir, 'peer.key'))).toString()
    await answerIdentifyLate(a, bId)
    const b = await node(bDir, [a]) // its first dial to a runs after this returns (a timer)
    await answerIdentifyLate(b, a.peerId)
    await until('b connected to a', () => b.libp2p.getConnections(a.libp2p.peerId).length > 0, 20_000)
    await sleep(IDENTIFY_TIMEOUT_MS + 2000)
    // the precondition: a and b are connected, yet neither end's gossipsub knows the other
    expect(b.libp2p.getConnections(a.libp2p.peerId).length).toBeGreaterThan(0)
    expect(gossipPeers(b)).not.toContain(a.peerId)
    expect(gossipPeers(a)).not.toContain(bId)

    // b must come to list c (announced through a) as live, and c must list b
    await until('b lists c as live and c lists b', async () => (await livePeers(b)).includes(c.peerId) && (await livePeers(c)).includes(bId), 20_000)
    expect(gossipPeers(b)).toContain(a.peerId)
  }, 60_000)
})
