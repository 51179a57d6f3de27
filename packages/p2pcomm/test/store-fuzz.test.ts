import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import * as cborg from 'cborg'
import fc from 'fast-check'
import { pino } from 'pino'
import { STORE_SYNC_PROTOCOL, STORE_TOPIC } from '../src/constants.js'
import { createMeshNode, type MeshNode } from '../src/node.js'
import { loadOrCreatePeerKey } from '../src/peer-key.js'
import { parsePeerstore } from '../src/peerstore.js'
import { decodeEnvelope, encodeEnvelope, EnvelopeVerifier, signEnvelope, type Envelope } from '../src/store/envelope.js'

/**
 * Random and mutated records and sync answers from a real libp2p peer (fast-check). The victim
 * drops and counts everything that is not a valid record, never crashes, and holds only records
 * that verify: a record is applied whole or not at all.
 */
describe('store under random and mutated gossip and sync', () => {
  let victim: MeshNode
  let fuzzer: MeshNode
  let fuzzerKey: PrivateKey
  const signed = new Set<string>()

  beforeAll(async () => {
    const log = pino({ level: 'silent' })
    victim = await createMeshNode({ dataDir: await mkdtemp(join(tmpdir(), 'dm-victim-')), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], self: () => ({ version: 't', docker: false }), log, syncIntervalMs: 500 })
    // the fuzzer's identity made first, so its valid records can be signed with it
    const fuzzerDir = await mkdtemp(join(tmpdir(), 'dm-fuzzer-'))
    fuzzerKey = await loadOrCreatePeerKey(join(fuzzerDir, 'peer.key'))
    fuzzer = await createMeshNode({ dataDir: fuzzerDir, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: parsePeerstore(victim.multiaddrs()[0] as string).addrs, self: () => ({ version: 't', docker: false }), log })
    const deadline = Date.now() + 15_000
    while (!fuzzer.libp2p.services.pubsub.getMeshPeers(STORE_TOPIC).includes(victim.peerId)) {
      if (Date.now() > deadline) throw new Error('fuzzer never joined the victim in the store topic mesh')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }, 30_000)

  afterAll(async () => {
    await fuzzer?.stop()
    await victim?.stop()
  })

  /** A record of the fuzzer, really signed by it: the only kind the victim may hold */
  const valid = fc.tuple(fc.stringMatching(/^[a-z]{1,6}\/[a-z0-9]{1,6}$/), fc.jsonValue({ maxDepth: 3 })).map(([key, value]) => ({ key, value: JSON.stringify(value) }))

  const mutation = fc.oneof(
    fc.uint8Array({ maxLength: 600 }).map(bytes => ({ kind: 'random' as const, bytes })),
    fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => ({ kind: 'flip' as const, at, byte })),
    fc.record({ key: fc.string({ maxLength: 20 }), value: fc.option(fc.string({ maxLength: 50 })), ms: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), n: fc.nat() })
      .map(r => ({ kind: 'forged' as const, ...r })),
    fc.anything({ maxDepth: 3 }).map(value => ({ kind: 'cbor' as const, value }))
  )

  it('gossip: drops every invalid message, applies only whole valid records', async () => {
    const pubsub = fuzzer.libp2p.services.pubsub
    const before = victim.store.stats().droppedMessages
    let invalid = 0
    await fc.assert(fc.asyncProperty(valid, mutation, async (record, m) => {
      const envelope = await signEnvelope(fuzzerKey, fuzzer.peerId, { ...record, version: { ms: Date.now(), n: 0 } })
      const bytes = encodeEnvelope(envelope)
      signed.add(Buffer.from(bytes).toString('base64'))
      await pubsub.publish(STORE_TOPIC, bytes)
      invalid++
      await pubsub.publish(STORE_TOPIC, mutate(bytes, envelope, m))
    }), { numRuns: 150, seed: Number(process.env.FUZZ_SEED ?? 20261204) })
    await until(() => victim.store.stats().droppedMessages > before && victim.store.stats().remoteUpdates > 0, 'drops to be counted and valid records applied')
    await expectOnlyValidRecords()
    expect(invalid).toBe(150)
  }, 60_000)

  it('sync: random and mutated answers end the sync and change nothing invalid', async () => {
    const answers = fc.sample(fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.anything({ maxDepth: 3 }).map(v => { try { return cborg.encode(v) } catch { return new Uint8Array([0xa0]) } }),
      fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 5 }).map(r => cborg.encode({ e: new Uint8Array([1]), r, s: 1, end: true })),
      fc.tuple(fc.integer(), fc.boolean()).map(([s, end]) => cborg.encode({ e: new Uint8Array(70), r: [], s, end }))
    ), { numRuns: 40, seed: Number(process.env.FUZZ_SEED ?? 20261204) })
    await fuzzer.libp2p.unhandle(STORE_SYNC_PROTOCOL)
    let served = 0
    await fuzzer.libp2p.handle(STORE_SYNC_PROTOCOL, async (stream: Stream) => {
      const lp = lpStream(stream)
      try {
        await lp.read()
        await lp.write(answers[served++ % answers.length] as Uint8Array)
        await stream.close()
      } catch { stream.abort(new Error('done')) }
    })
    // each new connection makes the victim pull from the fuzzer; the timer adds more
    for (let i = 0; i < 10; i++) {
      await fuzzer.libp2p.hangUp(victim.libp2p.peerId)
      await fuzzer.libp2p.dial(victim.libp2p.peerId)
      await new Promise(resolve => setTimeout(resolve, 300))
    }
    await until(() => served >= 10, 'the victim to pull ten answers')
    await expectOnlyValidRecords()
    // still alive and replicating: a write of the victim reaches the fuzzer's store by gossip
    await victim.store.put('after/fuzz', 'still here')
    await until(async () => await fuzzer.store.get('after/fuzz') === 'still here', 'a write after the fuzzing to replicate')
  }, 60_000)

  async function expectOnlyValidRecords (): Promise<void> {
    const verifier = new EnvelopeVerifier()
    for (const { bytes } of victim.store.since(0, Infinity)) {
      const envelope = decodeEnvelope(bytes)
      expect(typeof envelope).toBe('object')
      expect(await verifier.verify(envelope as Envelope)).toBe(true)
      const mine = (envelope as Envelope).author === victim.peerId
      expect(mine || signed.has(Buffer.from(bytes).toString('base64'))).toBe(true)
    }
  }
})

function mutate (bytes: Uint8Array, envelope: Envelope, m: { kind: string, [k: string]: unknown }): Uint8Array {
  switch (m.kind) {
    case 'random': return m.bytes as Uint8Array
    case 'flip': {
      const copy = Uint8Array.from(bytes)
      const at = (m.at as number) % copy.length
      copy[at] = copy[at] === m.byte ? ((m.byte as number) + 1) % 256 : m.byte as number
      return copy
    }
    case 'forged': {
      const value = m.value as string | null
      return encodeEnvelope({ ...envelope, key: m.key as string, version: { ms: m.ms as number, n: m.n as number }, ...(value == null ? { value: undefined } : { value }) })
    }
    default:
      try { return cborg.encode(m.value) } catch { return new Uint8Array([0xff]) }
  }
}

async function until (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
