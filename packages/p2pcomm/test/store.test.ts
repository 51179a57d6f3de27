import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { MemoryDatastore } from 'datastore-core'
import * as cborg from 'cborg'
import * as Y from 'yjs'
import { Key } from 'interface-datastore'
import { z } from 'zod'
import { decodeEnvelope, encodeEnvelope, signEnvelope, type Envelope } from '../src/store/envelope.js'
import { DurableStore } from '../src/store/durable-store.js'
import { MemoryStore } from '../src/store/memory-store.js'
import { RecordValidator } from '../src/store/records.js'
import type { WritePolicy } from '../src/store/store.js'
import { storeConformance } from './store-conformance.js'

storeConformance('MemoryStore', async policy => MemoryStore.create({ policy }))
storeConformance('DurableStore', async policy => DurableStore.open({ datastore: new MemoryDatastore(), policy }))

/** Every record one store holds, handed to another as a peer would send it */
async function copy (from: MemoryStore, to: MemoryStore): Promise<void> {
  for (const { bytes } of from.since(0, Infinity)) await to.receive(bytes)
}

async function identity (): Promise<{ key: PrivateKey, id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

async function forged (key: PrivateKey, author: string, e: Omit<Envelope, 'signature' | 'author'>): Promise<Uint8Array> {
  return encodeEnvelope(await signEnvelope(key, author, e))
}

/** Only `writer` may write strategy/; status/<peer>/ only by that peer */
function policyFor (writer: string): WritePolicy {
  return {
    denies (key, author) {
      if (key.startsWith('status/')) return key.split('/')[1] === author ? undefined : 'status of another peer'
      return author === writer ? undefined : 'not a writer'
    }
  }
}

describe('signed records', () => {
  it('a record from a peer is applied, and its author and origin reported', async () => {
    const a = await MemoryStore.create()
    const b = await MemoryStore.create()
    const seen: unknown[] = []
    b.subscribe(c => seen.push(c))
    await a.put('k', { v: 1 })
    await copy(a, b)
    expect(await b.get('k')).toEqual({ v: 1 })
    expect(seen).toEqual([{ key: 'k', value: { v: 1 }, origin: 'remote', author: a.peerId }])
    expect(b.stats()).toMatchObject({ remoteUpdates: 1, droppedMessages: 0 })
  })

  it('drops a record whose signature does not verify: a changed value, or another key', async () => {
    const a = await MemoryStore.create()
    const b = await MemoryStore.create()
    await a.put('strategy/x', 'good')
    const [{ bytes }] = a.since(0, Infinity) as [{ bytes: Uint8Array }]
    const envelope = decodeEnvelope(bytes) as Envelope
    expect(await b.receive(encodeEnvelope({ ...envelope, value: '"evil"' }))).toMatchObject({ applied: false, reason: 'bad-signature' })
    expect(await b.receive(encodeEnvelope({ ...envelope, key: 'strategy/y' }))).toMatchObject({ applied: false, reason: 'bad-signature' })
    expect(await b.receive(encodeEnvelope({ ...envelope, version: { ...envelope.version, n: envelope.version.n + 1 } }))).toMatchObject({ reason: 'bad-signature' })
    expect(await b.list()).toEqual([])
    expect(b.stats().dropped['bad-signature']).toBe(3)
  })

  it('drops a record whose author may not write its key, whatever the author believes', async () => {
    const writer = await identity()
    const rogue = await identity()
    const honest = await MemoryStore.create({ policy: policyFor(writer.id) })
    // the rogue's own node lets it write anything: its store signs happily
    const rogueStore = await MemoryStore.create({ privateKey: rogue.key })
    await rogueStore.put('strategy/all', { percentage: 100 })
    await rogueStore.put(`status/${writer.id}/busybox:1`, { state: 'loaded' })
    await copy(rogueStore, honest)
    expect(await honest.list()).toEqual([])
    expect(honest.stats().dropped.unauthorized).toBe(2)
  })

  it('keeps the newest version: a replayed older record never overwrites a newer one, in any order', async () => {
    const writer = await identity()
    const a = await MemoryStore.create({ privateKey: writer.key })
    await a.put('strategy/x', 'v1')
    const old = (a.since(0, Infinity)[0] as { bytes: Uint8Array }).bytes
    await a.put('strategy/x', 'v2')
    const b = await MemoryStore.create()
    await copy(a, b)
    expect(await b.receive(old)).toMatchObject({ applied: false, reason: 'stale' })
    expect(await b.get('strategy/x')).toBe('v2')
    const c = await MemoryStore.create()
    expect(await c.receive(old)).toMatchObject({ applied: true })
    await copy(a, c)
    expect(await c.get('strategy/x')).toBe('v2')
    expect(b.stats().dropped.stale).toBe(1)
  })

  it('a write here is newer than the record it replaces, even from a host whose clock is behind', async () => {
    const ahead = await MemoryStore.create({ now: () => Date.now() + 60_000 })
    const behind = await MemoryStore.create({ now: () => Date.now() - 60_000 })
    await ahead.put('k', 'ahead')
    await copy(ahead, behind)
    await behind.put('k', 'behind, later')
    await copy(behind, ahead)
    expect(await ahead.get('k')).toBe('behind, later')
  })

  it('converges on concurrent writes to one key, whichever order peers see them in', async () => {
    const stores = await Promise.all([1, 2, 3].map(async () => MemoryStore.create()))
    const [a, b, c] = stores as [MemoryStore, MemoryStore, MemoryStore]
    await a.put('k', 'a')
    await b.put('k', 'b')
    await copy(a, c)
    await copy(b, c)
    await copy(b, a)
    await copy(a, b)
    expect(new Set([await a.get('k'), await b.get('k'), await c.get('k')]).size).toBe(1)
  })

  it('deletes are signed tombstones: they reach peers, and the older record does not come back', async () => {
    const a = await MemoryStore.create()
    const b = await MemoryStore.create()
    await a.put('k', 1)
    const first = (a.since(0, Infinity)[0] as { bytes: Uint8Array }).bytes
    await copy(a, b)
    expect(await a.delete('k')).toBe(true)
    await copy(a, b)
    expect(await b.get('k')).toBeUndefined()
    expect(await b.receive(first)).toMatchObject({ reason: 'stale' })
    expect(await b.get('k')).toBeUndefined()
    expect(b.stats()).toMatchObject({ keys: 0, tombstones: 1 })
  })

  it('a tombstone is authorized like a write: a peer that may not write a key cannot delete it', async () => {
    const writer = await identity()
    const rogue = await identity()
    const honest = await MemoryStore.create({ policy: policyFor(writer.id) })
    const w = await MemoryStore.create({ privateKey: writer.key })
    await w.put('strategy/x', 'keep')
    await copy(w, honest)
    const tombstone = await forged(rogue.key, rogue.id, { key: 'strategy/x', version: { ms: Date.now() + 1000, n: 0 } })
    expect(await honest.receive(tombstone)).toMatchObject({ reason: 'unauthorized' })
    // claiming the writer's name without its key fails on the signature
    const claimed = await forged(rogue.key, writer.id, { key: 'strategy/x', version: { ms: Date.now() + 1000, n: 0 } })
    expect(await honest.receive(claimed)).toMatchObject({ reason: 'bad-signature' })
    expect(await honest.get('strategy/x')).toBe('keep')
  })

  it('drops malformed envelopes, values that fail their schema, and versions far in the future', async () => {
    const validator = new RecordValidator([{ prefix: 'image/', schema: z.object({ cid: z.string() }) }])
    const store = await MemoryStore.create({ validator })
    const peer = await identity()
    expect(await store.receive(new Uint8Array([1, 2, 3]))).toMatchObject({ reason: 'malformed' })
    expect(await store.receive(cborg.encode([1, 'k', peer.id, 1, 0, null, new Uint8Array(3)]))).toMatchObject({ reason: 'malformed' })
    expect(await store.receive(await forged(peer.key, peer.id, { key: 'image/a', value: '{"nope":1}', version: { ms: Date.now(), n: 0 } }))).toMatchObject({ reason: 'invalid-value' })
    expect(await store.receive(await forged(peer.key, peer.id, { key: 'k', value: '['.repeat(3000) + ']'.repeat(3000), version: { ms: Date.now(), n: 0 } }))).toMatchObject({ reason: 'invalid-value' })
    expect(await store.receive(await forged(peer.key, peer.id, { key: 'k', value: '1', version: { ms: Date.now() + 3_600_000, n: 0 } }))).toMatchObject({ reason: 'future' })
    expect(await store.receive(await forged(peer.key, 'not-a-peer-id', { key: 'k', value: '1', version: { ms: 1, n: 0 } }))).toMatchObject({ reason: 'bad-signature' })
    expect(await store.list()).toEqual([])
    expect(store.stats().dropped).toEqual({ malformed: 2, 'bad-signature': 1, unauthorized: 0, stale: 0, future: 1, 'invalid-value': 2, 'rate-limited': 0, 'over-quota': 0 })
  })

  it('bounds what one author may hold: new keys past its quota are dropped, its own keys still update', async () => {
    const peer = await identity()
    const store = await MemoryStore.create({ maxRecordsPerAuthor: 3 })
    const record = async (key: string, n: number): Promise<Uint8Array> => forged(peer.key, peer.id, { key, value: String(n), version: { ms: Date.now(), n } })
    for (let i = 0; i < 3; i++) expect(await store.receive(await record(`status/${peer.id}/${i}`, i))).toMatchObject({ applied: true })
    expect(await store.receive(await record(`status/${peer.id}/3`, 3))).toMatchObject({ applied: false, reason: 'over-quota' })
    expect(await store.receive(await record(`status/${peer.id}/0`, 9))).toMatchObject({ applied: true })
    // the quota holds for this node's own writes too
    const own = await MemoryStore.create({ maxRecordsPerAuthor: 1 })
    await own.put('a', 1)
    await expect(own.put('b', 2)).rejects.toMatchObject({ name: 'InvalidRecordError' })
    await own.put('a', 3)
    expect(store.stats().dropped['over-quota']).toBe(1)
  })

  it('keeps nothing it cannot apply: a record from the future is neither held nor offered to peers, and comes back through sync once its time has come', async () => {
    let now = Date.now()
    const peer = await identity()
    const early = await forged(peer.key, peer.id, { key: 'k', value: '1', version: { ms: now + 3_600_000, n: 0 } })
    const store = await MemoryStore.create({ now: () => now })
    expect(await store.receive(early)).toMatchObject({ applied: false, reason: 'future' })
    expect(store.since(0, Infinity)).toEqual([])
    expect(await store.get('k')).toBeUndefined()
    now += 3_600_000
    expect(await store.receive(early)).toMatchObject({ applied: true })
  })

  it('counts a record received again as a duplicate, not as a drop', async () => {
    const a = await MemoryStore.create()
    const b = await MemoryStore.create()
    await a.put('k', 1)
    await copy(a, b)
    await copy(a, b)
    expect(b.stats()).toMatchObject({ duplicates: 1, droppedMessages: 0 })
  })

  it('lists the change feed in order, from a seq, in bounded chunks', async () => {
    const a = await MemoryStore.create()
    for (let i = 0; i < 10; i++) await a.put(`k${i}`, 'x'.repeat(100))
    await a.put('k0', 'moved to the end')
    const all = a.since(0, Infinity)
    expect(all.map(r => r.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    expect(a.since(0, 300).length).toBeLessThan(4)
    expect(a.since(10, 1)).toHaveLength(1)
    expect(a.since(11, 1)).toEqual([])
  })
})

describe('DurableStore', () => {
  it('survives restart with its records, tombstones and change feed', async () => {
    const datastore = new MemoryDatastore()
    const key = await generateKeyPair('Ed25519')
    const a = await DurableStore.open({ datastore, privateKey: key })
    await a.put('keep', 1)
    await a.put('gone', 2)
    await a.delete('gone')
    await a.close()
    const b = await DurableStore.open({ datastore, privateKey: key })
    expect(await b.list()).toEqual([{ key: 'keep', value: 1 }])
    expect(b.epoch).toEqual(a.epoch)
    expect(b.lastSeq).toBe(a.lastSeq)
    // a write after restart is newer than the one before it
    await b.put('keep', 3)
    const c = await MemoryStore.create()
    for (const { bytes } of a.since(0, Infinity)) await c.receive(bytes)
    for (const { bytes } of b.since(0, Infinity)) await c.receive(bytes)
    expect(await c.get('keep')).toBe(3)
  })

  it('migrates an unsigned (Yjs) data dir: re-signs what it may, reports what it leaves to the authors', async () => {
    const datastore = new MemoryDatastore()
    const key = await generateKeyPair('Ed25519')
    const self = peerIdFromPrivateKey(key).toString()
    const doc = new Y.Doc()
    const map = doc.getMap('kv')
    map.set('strategy/x', { nametag: 'busybox:1' })
    map.set(`status/${self}/busybox:1`, { state: 'loaded' })
    map.set('status/12D3KooWother/busybox:1', { state: 'loaded' })
    await datastore.put(new Key('/distromash/store/snapshot'), Y.encodeStateAsUpdate(doc))
    const policy: WritePolicy = { denies: (k, author) => k.startsWith('status/') && k.split('/')[1] !== author ? 'status of another peer' : undefined }
    const store = await DurableStore.open({ datastore, privateKey: key, policy })
    const report = await store.migrateV1()
    expect(report).toEqual({ resigned: 2, leftToAuthors: ['status/12D3KooWother/busybox:1'] })
    expect((await store.list()).map(e => e.key)).toEqual([`status/${self}/busybox:1`, 'strategy/x'])
    expect(await store.migrateV1()).toBeUndefined()
  })
})
