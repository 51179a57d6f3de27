import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryStore, type Peer } from '@distromash/p2pcomm'
import type { Identity } from '../src/api/deps.js'
import { describeAuthorization } from '../src/records/policy.js'
import { NodeProcess, writePeerstore } from '../../../test/helpers/node-process.js'
import { startTwinApi, type TwinApi } from './helpers/twin-api.js'

interface Sse { name: string, data: unknown }

/** An open GET /api/v1/events: the events received so far, and a wait for the next matching one */
class EventStream {
  readonly events: Sse[] = []
  private readonly abort = new AbortController()
  private wake?: () => void

  static async open (apiUrl: string): Promise<EventStream> {
    const s = new EventStream()
    const res = await fetch(`${apiUrl}/api/v1/events`, { signal: s.abort.signal })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    void s.read(res.body as ReadableStream<Uint8Array>)
    return s
  }

  private async read (body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const name = /^event: (.+)$/m.exec(block)?.[1]
          const data = /^data: (.+)$/m.exec(block)?.[1]
          if (name != null && data != null) this.events.push({ name, data: JSON.parse(data) })
          this.wake?.()
        }
      }
    } catch { /* aborted by close() */ }
  }

  /** The first event from index `from` on that matches, waiting up to timeoutMs for it */
  async next (match: (e: Sse) => boolean, from = 0, timeoutMs = 10_000): Promise<Sse> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.events.slice(from).find(match)
      if (found != null) return found
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no matching event in ${timeoutMs} ms; received: ${JSON.stringify(this.events.slice(from))}`)
      await new Promise<void>(resolve => { this.wake = resolve; setTimeout(resolve, Math.min(left, 200)) })
    }
  }

  named (name: string, from = 0): Sse[] {
    return this.events.slice(from).filter(e => e.name === name)
  }

  close (): void { this.abort.abort() }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

function peer (id: string, over: Partial<Peer> = {}): Peer {
  return { id, self: false, addrs: [`/ip4/198.18.0.9/tcp/4001/p2p/${id}`], connected: true, live: true, latencyMs: 3, ...over }
}

/**
 * The node's own changes on the stream, over the API with in-memory twins: the peer list and the
 * identity are whatever the test says, so every kind of change is made on purpose.
 */
describe('peers and identity events (API over in-memory twins)', () => {
  let api: TwinApi
  let apiUrl = ''
  let peers: Peer[] = []
  let identity: Identity
  let peerCalls = 0
  const streams: EventStream[] = []

  beforeAll(async () => {
    const store = await MemoryStore.create()
    const self = peer(store.peerId, { self: true })
    peers = [self]
    identity = { peerId: store.peerId, addrs: ['/ip4/127.0.0.1/tcp/4001'], privateNetwork: true, version: 't', writeAuthorization: describeAuthorization(undefined, store.peerId), content: { kind: 'embedded', description: 'embedded (Helia)' } }
    api = await startTwinApi(store, {
      identity: () => identity,
      peers: async () => { peerCalls++; return peers.map(p => ({ ...p })) }
    })
    apiUrl = api.url
  })

  afterEach(() => { for (const s of streams.splice(0)) s.close() })
  afterAll(async () => { await api.close() })

  const open = async (): Promise<EventStream> => {
    const s = await EventStream.open(apiUrl)
    streams.push(s)
    await sleep(1200) // the watcher's first look is its baseline
    return s
  }

  it('sends peers with counts when a peer joins, stops being live, or leaves; not for latency alone', async () => {
    const s = await open()
    const a = '12D3KooWPeerA'
    peers = [...peers, peer(a)]
    expect((await s.next(e => e.name === 'peers')).data).toEqual({ count: 1, live: 1 })

    let from = s.events.length
    peers = peers.map(p => p.id === a ? { ...p, latencyMs: 250, lastSeen: new Date().toISOString() } : p)
    await sleep(2500)
    expect(s.named('peers', from)).toEqual([])

    peers = peers.map(p => p.id === a ? { ...p, connected: false, live: false } : p)
    expect((await s.next(e => e.name === 'peers', from)).data).toEqual({ count: 1, live: 0 })

    from = s.events.length
    peers = peers.map(p => p.id === a ? { ...p, announcement: { version: '2', docker: true, addrs: [] } } : p)
    expect((await s.next(e => e.name === 'peers', from)).data).toEqual({ count: 1, live: 0 })

    from = s.events.length
    peers = peers.filter(p => p.id !== a)
    expect((await s.next(e => e.name === 'peers', from)).data).toEqual({ count: 0, live: 0 })
    expect(s.named('peers', from)).toHaveLength(1)
  }, 30_000)

  it('sends identity, the whole new identity, when write authorization, content backend or addresses change', async () => {
    const s = await open()
    const writers = new Set([identity.peerId, '12D3KooWOther'])
    identity = { ...identity, writeAuthorization: describeAuthorization(writers, identity.peerId) }
    const got = await s.next(e => e.name === 'identity')
    expect(got.data).toEqual(identity)
    expect(got.data).toMatchObject({ writeAuthorization: { enabled: true, writers: 2, selfIsWriter: true } })

    let from = s.events.length
    identity = { ...identity, content: { kind: 'kubo', description: 'kubo http://127.0.0.1:5001', url: 'http://127.0.0.1:5001' } }
    expect((await s.next(e => e.name === 'identity', from)).data).toMatchObject({ content: { kind: 'kubo' } })

    from = s.events.length
    identity = { ...identity, addrs: [...identity.addrs, '/ip4/198.18.0.7/tcp/4001'] }
    expect((await s.next(e => e.name === 'identity', from)).data).toMatchObject({ addrs: identity.addrs })
    expect(s.named('peers', 0)).toEqual([])
  }, 30_000)

  it('gives every open stream the change, and stops looking once the last stream closes', async () => {
    const [s1, s2] = [await open(), await open()]
    peers = [...peers, peer('12D3KooWPeerB')]
    await s1.next(e => e.name === 'peers')
    await s2.next(e => e.name === 'peers')
    s1.close()
    s2.close()
    await sleep(1500)
    const calls = peerCalls
    await sleep(2500)
    expect(peerCalls).toBe(calls)
  }, 30_000)
})

/**
 * Real nodes on loopback: node A's stream says when B joins the mesh and when it goes away, as
 * A's own peer list sees it (test/helpers/node-process.ts; needs `make build`).
 */
describe('peers events between node processes', () => {
  let dir = ''
  let a: NodeProcess
  let b: NodeProcess | undefined

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dm-events-live-'))
    a = await NodeProcess.start()
  }, 60_000)

  afterAll(async () => {
    await b?.stop()
    await a?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('A sends peers when B connects and lists it; then when B stops, until B is no longer live', async () => {
    const s = await EventStream.open(a.apiUrl)
    await sleep(1500)
    b = await NodeProcess.start({ peerstore: await writePeerstore(dir, [a]) })
    const joined = await s.next(e => e.name === 'peers' && (e.data as { live: number }).live === 1, 0, 20_000)
    expect(joined.data).toEqual({ count: 1, live: 1 })
    const { body } = await a.api<Array<{ id: string, connected: boolean }>>('/api/v1/peers')
    expect(body.find(p => p.id === b?.peerId)).toMatchObject({ connected: true })

    const from = s.events.length
    await b.stop()
    // disconnected at once; no longer live once the liveness window (3 announce intervals) passes
    const gone = await s.next(e => e.name === 'peers' && (e.data as { live: number }).live === 0, from, 30_000)
    expect(gone.data).toEqual({ count: 1, live: 0 })
    s.close()
  }, 90_000)
})
