import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MemoryStore } from '@distromash/p2pcomm'
import { catalogConformance } from '../../multiplatform2ipfs/test/catalog-conformance.js'
import { describeAuthorization, parseWriters, recordsCatalog, Records, RECORD_SCHEMAS, writePolicy, type RecordChange } from '../src/records/index.js'
import { keyOf, parseKey } from '../src/records/keys.js'
import { RecordValidator } from '@distromash/p2pcomm'

const idOf = async (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, id: string }> => {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

catalogConformance('recordsCatalog', async () => {
  const store = await MemoryStore.create({ validator: new RecordValidator(RECORD_SCHEMAS) })
  return { catalog: recordsCatalog(new Records(store, store.peerId)) }
})

describe('record keys', () => {
  it('builds and parses every kind, and nothing else is a status', () => {
    for (const k of [{ kind: 'image', nametag: 'busybox:1' }, { kind: 'cid', cid: 'bafy' }, { kind: 'strategy', key: 'percentage-a:1-50' },
      { kind: 'assignment', key: 'x' }, { kind: 'status', peerId: '12D3KooWx', image: 'ghcr.io/a/b:1' }] as const) {
      expect(parseKey(keyOf(k))).toEqual(k)
    }
    expect(parseKey('status/nopeer')).toEqual({ kind: 'other', key: 'status/nopeer' })
    expect(parseKey('sse/k')).toEqual({ kind: 'other', key: 'sse/k' })
  })
})

describe('writers file', () => {
  it('takes one Ed25519 peer ID per line with comments, and reports malformed lines by number', async () => {
    const a = await idOf()
    const rsa = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'
    const file = parseWriters(`# writers\n${a.id}  # node 1\n\nnot-a-peer\n${rsa}\n`)
    expect([...file.writers]).toEqual([a.id])
    expect(file.errors.map(e => e.line)).toEqual([4, 5])
    expect(file.errors[1]?.message).toMatch(/RSA peer ID cannot sign records/)
  })
})

describe('write policy', () => {
  it('lets only writers write desired state, and only a peer its own status', async () => {
    const [w, other] = await Promise.all([idOf(), idOf()])
    const policy = writePolicy(new Set([w.id]))
    expect(policy.denies('strategy/x', w.id)).toBeUndefined()
    expect(policy.denies('image/a:1', other.id)).toMatch(/writers file/)
    expect(policy.denies('anything/else', other.id)).toMatch(/writers file/)
    expect(policy.denies(`status/${other.id}/a:1`, other.id)).toBeUndefined()
    expect(policy.denies(`status/${other.id}/a:1`, w.id)).toMatch(/peer it describes/)
    expect(policy.denies('status/', w.id)).toMatch(/peer it describes/)
    const open = writePolicy(undefined)
    expect(open.denies('strategy/x', other.id)).toBeUndefined()
    expect(open.denies(`status/${w.id}/a:1`, other.id)).toMatch(/peer it describes/)
  })

  it('describes itself for the banner, /health and the dashboard', () => {
    expect(describeAuthorization(undefined, 'me').summary).toMatch(/^off/)
    expect(describeAuthorization(new Set(['me', 'you']), 'me')).toEqual({ enabled: true, writers: 2, selfIsWriter: true, summary: 'on, 2 writers (this node is one)' })
    expect(describeAuthorization(new Set(['you']), 'me').summary).toBe('on, 1 writer (this node is not one)')
  })
})

describe('Records', () => {
  it('reads and writes typed records, and watch() reports typed changes from anywhere', async () => {
    const writer = await idOf()
    const store = await MemoryStore.create({ privateKey: writer.key, validator: new RecordValidator(RECORD_SCHEMAS), policy: writePolicy(new Set([writer.id])) })
    const records = new Records(store, writer.id)
    const seen: RecordChange[] = []
    records.watch(c => seen.push(c))
    const strategy = { key: 's', type: 'percentage' as const, nametag: 'a:1', percentage: 50, execute: true, createdAt: '', updatedAt: '', createdBy: writer.id }
    await records.putStrategy(strategy)
    await records.putAssignment('s', { peers: [writer.id], replicas: 1, at: '', by: writer.id })
    await records.putStatus('a:1', { image: 'a:1', cid: 'bafy', state: 'loaded', docker: true, updatedAt: '' })
    expect(await records.strategies()).toEqual([strategy])
    expect(await records.statuses()).toEqual([{ image: 'a:1', cid: 'bafy', state: 'loaded', docker: true, updatedAt: '', peerId: writer.id }])
    expect(records.deniesDesiredState()).toBeUndefined()
    expect(await records.deleteStrategy('s')).toBe(true)
    expect(await records.assignment('s')).toBeUndefined()
    expect(seen.map(c => [c.kind, c.value === undefined ? 'deleted' : 'set'])).toEqual([
      ['strategy', 'set'], ['assignment', 'set'], ['status', 'set'], ['strategy', 'deleted'], ['assignment', 'deleted']
    ])
    expect(seen[2]).toMatchObject({ kind: 'status', peerId: writer.id, image: 'a:1', storeKey: `status/${writer.id}/a:1`, author: writer.id, origin: 'local' })
  })

  it('refuses desired state on a node that is not a writer, naming why', async () => {
    const store = await MemoryStore.create({ policy: writePolicy(new Set(['12D3KooWsomeoneelse'])) })
    const records = new Records(store, store.peerId)
    expect(records.deniesDesiredState()).toMatch(/writers file/)
    await expect(records.putAssignment('s', { peers: [], replicas: 0, at: '', by: '' })).rejects.toMatchObject({ name: 'UnauthorizedWriteError' })
    await records.putStatus('a:1', { image: 'a:1', cid: 'bafy', state: 'pending', docker: false, updatedAt: '' })
    expect(await records.statuses(store.peerId)).toHaveLength(1)
  })
})
