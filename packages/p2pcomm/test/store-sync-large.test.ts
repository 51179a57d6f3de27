import { afterAll, describe, expect, it } from 'vitest'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createMeshNode, type MeshNode } from '../src/node.js'
import { parsePeerstore } from '../src/peerstore.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encodeEnvelope, signEnvelope } from '../src/store/envelope.js'

const RECORDS = 50_000

/**
 * The attack behind issue 16's first item: a store over libp2p's 4 MiB read buffer never reached a
 * new node ("Read buffer overflow" on both sides). 50,000 status-sized records (about 14 MB
 * signed) must reach a node that joins, in bounded chunks, over a real libp2p connection.
 */
describe('a store of 50,000 records', () => {
  const nodes: MeshNode[] = []
  afterAll(async () => { for (const n of nodes) await n.stop() })

  it('reaches a new node in full', async () => {
    const log = pino({ level: 'silent' })
    const old = await createMeshNode({ dataDir: await mkdtemp(join(tmpdir(), 'dm-big-')), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], self: () => ({ version: 't', docker: false }), log })
    nodes.push(old)
    // status records of 1,000 peers × 50 images, as the real ones look, each signed by its peer
    for (let p = 0; p < RECORDS / 50; p++) {
      const key = await generateKeyPair('Ed25519')
      const peer = peerIdFromPrivateKey(key).toString()
      for (let i = 0; i < 50; i++) {
        const image = `registry.example/team/app-${i}:1.0.${p % 97}`
        const value = JSON.stringify({ image, cid: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', state: 'loaded', docker: true, updatedAt: new Date().toISOString() })
        const bytes = encodeEnvelope(await signEnvelope(key, peer, { key: `status/${peer}/${image}`, value, version: { ms: Date.now(), n: i } }))
        if (!(await old.store.receive(bytes)).applied) throw new Error('a valid record was refused')
      }
    }
    const bytes = old.store.since(0, Infinity).reduce((a, r) => a + r.bytes.byteLength, 0)
    expect(bytes).toBeGreaterThan(4 * 1024 * 1024 * 2)
    const started = Date.now()
    const fresh = await createMeshNode({ dataDir: await mkdtemp(join(tmpdir(), 'dm-big-new-')), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: parsePeerstore(old.multiaddrs()[0] as string).addrs, self: () => ({ version: 't', docker: false }), log })
    nodes.push(fresh)
    const deadline = Date.now() + 120_000
    while (fresh.store.stats().keys < RECORDS && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 250))
    const seconds = (Date.now() - started) / 1000
    console.log(`${RECORDS} records, ${(bytes / 1024 / 1024).toFixed(1)} MiB signed: on the new node in ${seconds.toFixed(1)} s`)
    expect(fresh.store.stats()).toMatchObject({ keys: RECORDS, droppedMessages: 0 })
  }, 240_000)
})
