import { describe, expect, it } from 'vitest'
import { MemoryDatastore } from 'datastore-core'
import * as Y from 'yjs'
import { z } from 'zod'
import { MemoryStore } from '../src/store/memory-store.js'
import { RecordValidator } from '../src/store/records.js'
import { rejectReason } from '../src/store/update-check.js'
import { YjsStore } from '../src/store/yjs-store.js'
import { storeConformance } from './store-conformance.js'

async function yjsStore (datastore = new MemoryDatastore(), validator?: RecordValidator, compactAfter?: number): Promise<YjsStore> {
  const store = new YjsStore({ datastore, validator, compactAfter })
  await store.start()
  return store
}

/** Two stores linked like peers: every local update of one is applied to the other */
function link (a: YjsStore, b: YjsStore): void {
  a.onLocalUpdate(u => { b.applyRemote(u) })
  b.onLocalUpdate(u => { a.applyRemote(u) })
}

storeConformance('MemoryStore', async () => new MemoryStore())
storeConformance('YjsStore', async () => yjsStore())

describe('YjsStore', () => {
  it('survives restart from its datastore, deletes included', async () => {
    const ds = new MemoryDatastore()
    const a = await yjsStore(ds)
    await a.put('keep', 1)
    await a.put('gone', 2)
    await a.delete('gone')
    await a.stop()
    const b = await yjsStore(ds)
    expect(await b.list()).toEqual([{ key: 'keep', value: 1 }])
  })

  it('compacts its update log into a snapshot without losing data', async () => {
    const ds = new MemoryDatastore()
    const a = await yjsStore(ds, undefined, 10)
    for (let i = 0; i < 35; i++) await a.put(`k${i}`, i)
    await a.stop()
    let updates = 0
    for await (const _ of ds.queryKeys({ prefix: '/distromash/store/updates' })) updates++
    expect(updates).toBeLessThan(10)
    expect(await ds.has(new (await import('interface-datastore')).Key('/distromash/store/snapshot'))).toBe(true)
    const b = await yjsStore(ds)
    expect((await b.list()).length).toBe(35)
  })

  it('converges on concurrent writes to the same key', async () => {
    const a = await yjsStore()
    const b = await yjsStore()
    await a.put('k', 'from-a')
    await b.put('k', 'from-b')
    // exchange full states afterwards, as anti-entropy does
    b.applyRemote(a.diffFor(b.stateVector()))
    a.applyRemote(b.diffFor(a.stateVector()))
    expect(await a.get('k')).toEqual(await b.get('k'))
  })

  it('catches up from a diff after missing updates, and deletes stay deleted', async () => {
    const a = await yjsStore()
    const b = await yjsStore()
    link(a, b)
    const updates: Uint8Array[] = []
    a.onLocalUpdate(u => updates.push(u))
    await a.put('x', 1)
    expect(await b.get('x')).toBe(1)
    const c = await yjsStore()
    await a.delete('x')
    await a.put('y', 2)
    c.applyRemote(a.diffFor(c.stateVector()))
    expect(await c.list()).toEqual([{ key: 'y', value: 2 }])
    // the original write, replayed late (a slow gossip message), does not resurrect the key
    expect(c.applyRemote(updates[0] as Uint8Array)).toBe(true)
    expect(await c.get('x')).toBeUndefined()
  })

  it('reports remote changes to subscribers as remote', async () => {
    const a = await yjsStore()
    const b = await yjsStore()
    link(a, b)
    const seen: unknown[] = []
    b.subscribe(c => seen.push(c))
    await a.put('k', { v: 1 })
    expect(seen).toEqual([{ key: 'k', value: { v: 1 }, origin: 'remote' }])
  })

  it('drops and counts malformed updates', async () => {
    const store = await yjsStore()
    expect(store.applyRemote(new Uint8Array([1, 2, 3, 255, 255]))).toBe(false)
    const doc = new Y.Doc()
    doc.getText('evil').insert(0, 'x')
    expect(store.applyRemote(Y.encodeStateAsUpdate(doc))).toBe(false)
    const nested = new Y.Doc()
    nested.getMap('kv').set('k', new Y.Map())
    expect(store.applyRemote(Y.encodeStateAsUpdate(nested))).toBe(false)
    expect(store.stats().droppedMessages).toBe(3)
    expect(await store.list()).toEqual([])
  })

  it('hides remote records that fail their schema, and counts them', async () => {
    const validator = new RecordValidator([{ prefix: 'image/', schema: z.object({ cid: z.string() }) }])
    const store = await yjsStore(undefined, validator)
    await expect(store.put('image/a', { nope: 1 })).rejects.toThrow(/image\/a/)
    const doc = new Y.Doc()
    doc.getMap('kv').set('image/a', { nope: 1 })
    doc.getMap('kv').set('image/b', { cid: 'bafy' })
    expect(store.applyRemote(Y.encodeStateAsUpdate(doc))).toBe(true)
    expect(await store.get('image/a')).toBeUndefined()
    expect(await store.list('image/')).toEqual([{ key: 'image/b', value: { cid: 'bafy' } }])
    expect(store.stats().invalidRecords).toBe(1)
  })
})

describe('update check', () => {
  it('accepts plain map entries and deletions', () => {
    const doc = new Y.Doc()
    doc.getMap('kv').set('a', { x: [1, 'two', null] })
    doc.getMap('kv').set('a', 2)
    doc.getMap('kv').delete('a')
    expect(rejectReason(Y.encodeStateAsUpdate(doc))).toBeUndefined()
  })

  it('refuses other roots, oversized values and control characters in keys', () => {
    const other = new Y.Doc()
    other.getMap('other').set('a', 1)
    expect(rejectReason(Y.encodeStateAsUpdate(other))).toMatch(/unknown root/)
    const big = new Y.Doc()
    big.getMap('kv').set('a', 'x'.repeat(300 * 1024))
    expect(rejectReason(Y.encodeStateAsUpdate(big))).toMatch(/larger than/)
    const key = new Y.Doc()
    key.getMap('kv').set('a\u0000', 1)
    expect(rejectReason(Y.encodeStateAsUpdate(key))).toMatch(/control/)
    const bin = new Y.Doc()
    bin.getMap('kv').set('a', new Uint8Array([1]))
    expect(rejectReason(Y.encodeStateAsUpdate(bin))).toMatch(/ContentBinary/)
  })
})
