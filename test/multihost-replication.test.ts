import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pushToUpstream, startCluster, type Cluster } from './helpers/cluster.js'
import type { Host } from './helpers/hosts.js'
import { eventually, sleep } from './helpers/node-process.js'

interface Cell { peerId: string, image: string, state: string, cid: string, updatedAt: string, error?: string }
interface View { key: string, selected: string[], status: { loaded: number, wanted: number } }
interface Pin { cid: string, owners: string[] }

const GRACE_S = 10

/**
 * The heart of DistroMash on real hosts: 4 network namespaces, each with its own dockerd and node,
 * an upstream registry only host 1 can reach. Strategies posted to one node end with runnable
 * images in exactly the chosen hosts' own engines, fetched from each other, and undone on delete.
 */
describe('replication across 4 hosts', () => {
  let cluster: Cluster
  let hosts: Host[] = []
  const h = (i: number): Host => hosts[i] as Host
  const byPeer = (peerId: string): Host => hosts.find(x => x.peerId === peerId) as Host

  beforeAll(async () => {
    // hosts 1 and 3 may change desired state; 2 and 4 may not: assignments, replacement and
    // join-following must still happen, driven by the lowest live writer
    cluster = await startCluster({ hosts: 4, upstream: true, nodeArgs: ['--grace-period', String(GRACE_S)], writers: [0, 2] })
    hosts = cluster.hosts
    for (const [repo, message] of [['mh/app:1', 'hello from app'], ['mh/other:1', 'hello from other'], ['mh/third:1', 'hello from third']]) {
      const ref = await pushToUpstream(h(0), cluster.upstream!, repo as string, message as string)
      await h(0).docker('rmi', ref)
    }
    for (const x of hosts) {
      await eventually(async () => (await x.api<Array<{ self: boolean, connected: boolean }>>('/api/v1/peers')).body.filter(p => !p.self && p.connected).length === 3, 30_000, `mesh on ${x.label}`)
    }
    // let every node be up longer than the grace period, so assignments may be re-evaluated
    await sleep(GRACE_S * 1000)
  }, 240_000)

  afterAll(async () => { await cluster?.destroy() }, 120_000)

  const cells = async (via: Host, image: string): Promise<Cell[]> =>
    (await via.api<{ cells: Cell[] }>('/api/v1/replication')).body.cells.filter(c => c.image === image)
  const loadedOn = async (via: Host, image: string): Promise<string[]> =>
    (await cells(via, image)).filter(c => c.state === 'loaded').map(c => c.peerId).sort()
  const hasImage = async (x: Host, ref: string): Promise<boolean> => (await x.docker('images', '-q', ref)) !== ''
  const post = async (via: Host, body: unknown): Promise<View> => {
    const { status, body: view } = await via.api<View>('/api/v1/strategy', { method: 'POST', body: JSON.stringify(body) })
    expect(status).toBe(201)
    return view
  }

  it('percentage 50: exactly 2 hosts run the image from their own engine; the others do not have it', async () => {
    const view = await post(h(0), { type: 'percentage', nametag: 'mh/app:1', percentage: 50, target: 'doesntmatter', execute: true })
    expect(view.selected).toHaveLength(2)
    const chosen = [...view.selected].sort()
    await eventually(async () => (await loadedOn(h(1), 'mh/app:1')).join() === chosen.join(), 90_000, 'two replicas loaded')
    for (const x of hosts) {
      if (chosen.includes(x.peerId)) {
        expect(await x.docker('run', '--rm', '--network', 'none', 'mh/app:1')).toBe('hello from app')
      } else {
        expect(await hasImage(x, 'mh/app:1')).toBe(false)
      }
    }
    expect((await cells(h(3), 'mh/app:1')).map(c => c.peerId).sort()).toEqual(chosen)
    // at least one chosen host is not host 1, and only host 1 reaches the upstream: it came from a peer
    expect(chosen.some(id => id !== h(0).peerId)).toBe(true)
  }, 120_000)

  it('a host that is not a writer refuses to change desired state (403, naming why) and says authorization is on', async () => {
    const { status, body } = await h(1).api<{ error: { code: string, message: string } }>('/api/v1/strategy', {
      method: 'POST', body: JSON.stringify({ type: 'percentage', nametag: 'mh/app:1', percentage: 100, execute: true })
    })
    expect(status).toBe(403)
    expect(body.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/writers file/) })
    const { body: health } = await h(1).api<{ writeAuthorization: { enabled: boolean, writers: number, selfIsWriter: boolean } }>('/health')
    expect(health.writeAuthorization).toMatchObject({ enabled: true, writers: 2, selfIsWriter: false })
    expect(h(1).output).toMatch(/write authorization: on, 2 writers \(this node is not one\)/)
    expect((await h(0).api<View[]>('/api/v1/strategy')).body.some(v => v.key.includes('mh/app:1-100'))).toBe(false)
  })

  it('target: exactly the named host gets the image, fetched from peers; delete removes it and its pins', async () => {
    // posted to host 1: the receiving node imports, and only host 1 reaches the upstream
    const view = await post(h(0), { type: 'target', nametag: 'mh/other:1', target: h(3).peerId, percentage: 0, execute: true })
    expect(view.selected).toEqual([h(3).peerId])
    await eventually(async () => (await loadedOn(h(0), 'mh/other:1')).join() === h(3).peerId, 90_000, 'host 4 loaded')
    expect(await h(3).docker('run', '--rm', '--network', 'none', 'mh/other:1')).toBe('hello from other')
    for (const x of hosts.slice(0, 3)) expect(await hasImage(x, 'mh/other:1')).toBe(false)
    expect((await h(3).api<Pin[]>('/api/v1/pins')).body.some(p => p.owners.includes('mh/other:1'))).toBe(true)

    expect((await h(2).api(`/api/v1/strategy/${encodeURIComponent(view.key)}`, { method: 'DELETE' })).status).toBe(204)
    await eventually(async () => !(await hasImage(h(3), 'mh/other:1')), 30_000, 'image removed from host 4')
    await eventually(async () => (await cells(h(0), 'mh/other:1')).length === 0, 30_000, 'status removed')
    expect((await h(3).api<Pin[]>('/api/v1/pins')).body.some(p => p.owners.includes('mh/other:1'))).toBe(false)
  }, 150_000)

  it('completes from a replica after the importing host is killed', async () => {
    const first = await post(h(0), { type: 'target', nametag: 'mh/third:1', target: h(1).peerId, execute: true })
    await eventually(async () => (await loadedOn(h(2), 'mh/third:1')).includes(h(1).peerId), 90_000, 'host 2 loaded')
    await h(0).kill()
    const second = await post(h(2), { type: 'target', nametag: 'mh/third:1', target: h(3).peerId, execute: true })
    await eventually(async () => (await loadedOn(h(2), 'mh/third:1')).includes(h(3).peerId), 90_000, 'host 4 loaded from host 2')
    expect(await h(3).docker('run', '--rm', '--network', 'none', 'mh/third:1')).toBe('hello from third')
    for (const v of [first, second]) await h(2).api(`/api/v1/strategy/${encodeURIComponent(v.key)}`, { method: 'DELETE' })
    await h(0).start()
    await eventually(async () => (await h(0).api<Array<{ self: boolean, connected: boolean }>>('/api/v1/peers')).body.filter(p => !p.self && p.connected).length === 3, 30_000, 'host 1 back')
  }, 200_000)

  it('replaces a chosen host gone longer than the grace period, and releases it when it returns', async () => {
    const { body: strategies } = await h(0).api<View[]>('/api/v1/strategy')
    const app = strategies.find(s => s.key.includes('mh/app:1')) as View
    const [goneId] = app.selected as [string]
    const gone = byPeer(goneId)
    const via = hosts.find(x => x !== gone) as Host
    await gone.stop()
    const replaced = await eventually(async () => {
      const { body } = await via.api<View>(`/api/v1/strategy/${encodeURIComponent(app.key)}`)
      return body.selected.length === 2 && !body.selected.includes(goneId) ? body.selected : undefined
    }, (GRACE_S + 40) * 1000, 'a replacement')
    const newcomer = byPeer(replaced.find(id => !app.selected.includes(id)) as string)
    await eventually(async () => (await loadedOn(via, 'mh/app:1')).includes(newcomer.peerId), 90_000, 'replacement loaded').catch(async err => {
      throw new Error(`${(err as Error).message}; cells: ${JSON.stringify(await cells(via, 'mh/app:1'))}; newcomer's log: ${newcomer.output.slice(-3000)}`)
    })
    expect(await newcomer.docker('run', '--rm', '--network', 'none', 'mh/app:1')).toBe('hello from app')
    expect(await hasImage(gone, 'mh/app:1')).toBe(true) // it was down: nothing could change there yet

    await gone.start()
    await eventually(async () => !(await hasImage(gone, 'mh/app:1')), 60_000, 'the returning host released the image')
    const { body: after } = await via.api<View>(`/api/v1/strategy/${encodeURIComponent(app.key)}`)
    expect([...after.selected].sort()).toEqual([...replaced].sort())
  }, 240_000)

  it('keeps strategies and statuses across a restart of every node, and fetches nothing again', async () => {
    await eventually(async () => {
      const now = await cells(h(0), 'mh/app:1')
      return now.length === 2 && now.every(c => c.state === 'loaded')
    }, 60_000, 'steady state: two loaded replicas and nothing being removed')
    const before = (await cells(h(0), 'mh/app:1')).map(c => `${c.peerId} ${c.state} ${c.updatedAt}`).sort()
    const { body: strategiesBefore } = await h(0).api<View[]>('/api/v1/strategy')
    await Promise.all(hosts.map(async x => { await x.stop() }))
    // all at once, as a fleet restarts: one by one on a loaded 2-core machine can keep the last
    // host down longer than the grace period, and then replacing it is the right thing to do
    await Promise.all(hosts.map(async x => { await x.start() }))
    await sleep((GRACE_S + 10) * 1000)
    const summary = (views: View[]): unknown => views.map(s => [s.key, [...s.selected].sort()])
    expect(summary((await h(0).api<View[]>('/api/v1/strategy')).body)).toEqual(summary(strategiesBefore))
    expect(summary((await h(3).api<View[]>('/api/v1/strategy')).body)).toEqual(summary(strategiesBefore))
    // the same status records, untouched: no host fetched or reloaded anything
    expect((await cells(h(3), 'mh/app:1')).map(c => `${c.peerId} ${c.state} ${c.updatedAt}`).sort()).toEqual(before)
  }, 240_000)
})
