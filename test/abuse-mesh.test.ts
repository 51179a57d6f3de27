import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import {
  createMeshNode, encodeEnvelope, generateSwarmKey, loadOrCreatePeerKey, parsePeerstore, parseSwarmKey, signEnvelope, type MeshNode
} from '../packages/p2pcomm/src/index.js'
import { STORE_TOPIC } from '../packages/p2pcomm/src/constants.js'
import { NodeProcess, eventually, writePeerstore } from './helpers/node-process.js'

interface Health { store: { dropped: Record<string, number> } }

/** The worst latency of GET /health while `during` runs, sampled every 50 ms */
async function healthLatency (node: NodeProcess, during: Promise<unknown>): Promise<number> {
  let worst = 0
  let done = false
  void during.finally(() => { done = true })
  while (!done) {
    const t = performance.now()
    await node.api('/health')
    worst = Math.max(worst, performance.now() - t)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return worst
}

/**
 * Issue 16's attacks by mesh peers, from a crafted libp2p peer against real node processes.
 */
describe('a node under abusive mesh peers', () => {
  let dir = ''
  let swarmKey = ''
  let victim: NodeProcess
  let writer: NodeProcess
  let attacker: MeshNode

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dm-abuse-mesh-'))
    swarmKey = join(dir, 'swarm.key')
    await writeFile(swarmKey, generateSwarmKey())
    victim = await NodeProcess.start({ swarmKey, extraArgs: ['--docker-host', 'unix:///nonexistent.sock'] })
    writer = await NodeProcess.start({ swarmKey, peerstore: await writePeerstore(dir, [victim]), extraArgs: ['--docker-host', 'unix:///nonexistent.sock'] })
    attacker = await createMeshNode({
      dataDir: await mkdtemp(join(tmpdir(), 'dm-attacker-')),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: parsePeerstore(victim.multiaddr).addrs,
      swarmKey: parseSwarmKey(await readFile(swarmKey, 'utf8')),
      self: () => ({ version: 'attacker', docker: false }),
      log: pino({ level: 'silent' })
    })
    await eventually(async () => attacker.libp2p.services.pubsub.getMeshPeers(STORE_TOPIC).includes(victim.peerId), 20_000, 'attacker in the victim\'s store topic mesh')
  }, 60_000)

  afterAll(async () => {
    await attacker?.stop()
    await Promise.all([victim?.stop(), writer?.stop()])
  })

  it('gossip as a CPU weapon: a flood of forged records is cut off by peer scoring; /health stays fast and honest writes still arrive', async () => {
    const key = await loadOrCreatePeerKey(join(await mkdtemp(join(tmpdir(), 'dm-k-')), 'k'))
    const forger = peerIdFromPrivateKey(key).toString()
    const before = (await victim.api<Health>('/health')).body.store.dropped
    const pubsub = attacker.libp2p.services.pubsub
    // records claiming the writer's authorship, signed with another key: 64 KiB values, 4,000 of them
    const value = JSON.stringify({ pad: 'x'.repeat(64 * 1024) })
    const flood = (async () => {
      for (let i = 0; i < 4000; i++) {
        const bytes = encodeEnvelope(await signEnvelope(key, writer.peerId, { key: `flood/${i}`, value, version: { ms: Date.now(), n: i } }))
        await pubsub.publish(STORE_TOPIC, bytes).catch(() => {})
        if (i % 100 === 0) await new Promise(resolve => setImmediate(resolve))
      }
    })()
    const honest = (async () => {
      await new Promise(resolve => setTimeout(resolve, 500))
      const t = performance.now()
      await writer.api('/api/v1/crdt', { method: 'POST', body: JSON.stringify({ key: 'honest/during-flood', value: 1 }) })
      await eventually(async () => (await victim.api(`/api/v1/crdt/${encodeURIComponent('honest/during-flood')}`)).status === 200, 15_000, 'the honest write on the victim')
      return performance.now() - t
    })()
    const worst = await healthLatency(victim, Promise.all([flood, honest]))
    const honestMs = await honest
    const after = (await victim.api<Health>('/health')).body.store.dropped
    const verified = after['bad-signature']! - before['bad-signature']!
    console.log(`flood of 4000 forged 64 KiB records: ${verified} reached signature checks, worst /health ${worst.toFixed(0)} ms, honest write arrived in ${honestMs.toFixed(0)} ms`)
    expect(verified).toBeGreaterThan(0)
    // graylisted after a handful: the rest never get decoded
    expect(verified).toBeLessThan(100)
    expect(worst).toBeLessThan(1000)
    expect(forger).not.toBe(writer.peerId)
  }, 120_000)
})
