import { MemoryStore, type JsonValue } from '@distromash/p2pcomm'
import { describe, expect, it } from 'vitest'
import { imageSwarm } from '../src/reconciler/desired.js'
import { Records } from '../src/records/index.js'
import { keyOf } from '../src/records/keys.js'

describe('imageSwarm', () => {
  it('holders are the importer and peers that finished this CID; pullers the other assigned peers, sorted', async () => {
    // the twin's policy is open: it may hold the status of other peers, as arriving from them
    const store = await MemoryStore.create()
    const records = new Records(store, 'p1')
    const s = { type: 'percentage' as const, nametag: 'app:1', percentage: 100, execute: true, createdAt: '', updatedAt: '', createdBy: 'x' }
    await records.putStrategy({ ...s, key: 'a' })
    await records.putAssignment('a', { peers: ['p4', 'p1', 'p2', 'p3'], replicas: 4, at: '', by: 'x' })
    await records.putStrategy({ ...s, key: 'off', execute: false })
    await records.putAssignment('off', { peers: ['p9'], replicas: 1, at: '', by: 'x' })
    const status = (state: string, cid = 'bafyroot'): JsonValue => ({ image: 'app:1', cid, state, docker: true, updatedAt: '' })
    await store.put(keyOf({ kind: 'status', peerId: 'p2', image: 'app:1' }), status('loaded'))
    await store.put(keyOf({ kind: 'status', peerId: 'p3', image: 'app:1' }), status('loaded', 'bafyother'))
    await store.put(keyOf({ kind: 'status', peerId: 'p4', image: 'app:1' }), status('fetching'))
    expect(await imageSwarm(records, 'app:1', 'bafyroot', 'p1')).toEqual({ holders: ['p1', 'p2'], pullers: ['p3', 'p4'] })
    // a peer fetching into Kubo takes no share of the split; once it holds the image it serves it
    await store.put(keyOf({ kind: 'status', peerId: 'p4', image: 'app:1' }), { ...status('fetching') as object, content: 'kubo' })
    expect(await imageSwarm(records, 'app:1', 'bafyroot', 'p1')).toEqual({ holders: ['p1', 'p2'], pullers: ['p3'] })
    await store.put(keyOf({ kind: 'status', peerId: 'p4', image: 'app:1' }), { ...status('loaded') as object, content: 'kubo' })
    expect(await imageSwarm(records, 'app:1', 'bafyroot', 'p1')).toEqual({ holders: ['p1', 'p2', 'p4'], pullers: ['p3'] })
  })
})
