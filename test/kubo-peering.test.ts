import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../packages/p2pcomm/src/index.js'
import { KuboDaemon } from './helpers/kubo.js'
import { NodeProcess, eventually, writePeerstore } from './helpers/node-process.js'

/**
 * Sidecar Kubos configured with nothing but the swarm key: each node announces its Kubo and peers
 * it with the mesh's nodes and the other Kubos, so the Kubos meet and one's bitswap fetches what
 * only the other holds.
 */
describe('a sidecar node keeps its Kubo peered with the mesh', () => {
  let kubos: KuboDaemon[] = []
  let nodes: NodeProcess[] = []

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-kubo-peering-'))
    const key = generateSwarmKey()
    await writeFile(join(dir, 'swarm.key'), key)
    kubos = await Promise.all([0, 1].map(async () => KuboDaemon.start({ swarmKey: key, env: { LIBP2P_FORCE_PNET: '1' } })))
    const noDocker = ['--docker-host', `unix://${join(dir, 'none.sock')}`]
    const a = await NodeProcess.start({ swarmKey: join(dir, 'swarm.key'), extraArgs: ['--ipfs-api', kubos[0]?.apiUrl ?? '', ...noDocker] })
    const b = await NodeProcess.start({ swarmKey: join(dir, 'swarm.key'), peerstore: await writePeerstore(dir, [a]), extraArgs: ['--ipfs-api', kubos[1]?.apiUrl ?? '', ...noDocker] })
    nodes = [a, b]
  }, 120_000)
  afterAll(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await Promise.all(kubos.map(async k => { await k.destroy() }))
  })

  it('announces its Kubo, and the Kubos end up connected to each other and to both nodes', async () => {
    const [a, b] = nodes as [NodeProcess, NodeProcess]
    const [ka, kb] = kubos as [KuboDaemon, KuboDaemon]
    await eventually(async () => {
      const peers = (await a.api<Array<{ id: string, announcement?: { ipfs?: { id: string } } }>>('/api/v1/peers')).body
      return peers.find(p => p.id === b.peerId)?.announcement?.ipfs?.id === kb.peerId
    }, 30_000, 'A lists B with its Kubo')
    const connected = async (k: KuboDaemon, ids: string[]): Promise<boolean> => { const peers = await k.connectedPeers(); return ids.every(id => peers.includes(id)) }
    await eventually(async () => connected(ka, [a.peerId, b.peerId, kb.peerId]), 45_000, 'Kubo A peered with both nodes and Kubo B')
    await eventually(async () => connected(kb, [a.peerId, b.peerId, ka.peerId]), 45_000, 'Kubo B peered with both nodes and Kubo A')
    // each side's own rounds (every 15 s) peer it, not only the other side's connection
    for (const [k, other] of [[ka, kb], [kb, ka]] as const) {
      await eventually(async () => (await k.ipfs(['swarm', 'peering', 'ls'])).includes(other.peerId), 40_000, 'peered both ways')
    }
  }, 120_000)

  it('what only Kubo A holds, Kubo B fetches over bitswap', async () => {
    const [ka, kb] = kubos as [KuboDaemon, KuboDaemon]
    const dir = await mkdtemp(join(tmpdir(), 'dm-kubo-file-'))
    await writeFile(join(dir, 'f'), `only in kubo A ${Date.now()}\n`.repeat(30_000))
    const cid = (await ka.ipfs(['add', '-Q', '--cid-version=1', join(dir, 'f')])).trim()
    await kb.ipfs(['pin', 'add', cid], { timeoutMs: 60_000 })
    expect(await kb.ipfs(['pin', 'ls', '--type=recursive', cid])).toContain(cid)
  }, 90_000)
})
