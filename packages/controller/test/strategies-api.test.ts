import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateSwarmKey } from '@distromash/p2pcomm'
import { NodeProcess, eventually, writePeerstore } from '../../../test/helpers/node-process.js'
import { startRegistry, type RunningRegistry } from '../../multiplatform2ipfs/test/helpers/registry.js'
import { pushSingleImage } from '../../multiplatform2ipfs/test/helpers/images.js'

interface ErrorBody { error: { code: string, message: string, field?: string } }
interface View { key: string, type: string, nametag: string, execute: boolean, selected: string[], replicas: number, image: { state: string, cid?: string, error?: string }, status: { wanted: number, pinned: number, loaded: number, peers: Array<{ peerId: string, state: string, docker: boolean }> } }

/** The strategy API of a real 2-node mesh without Docker engines (images are pinned only). */
describe('strategy API', () => {
  let upstream: RunningRegistry
  let a: NodeProcess
  let b: NodeProcess

  beforeAll(async () => {
    upstream = await startRegistry()
    await pushSingleImage(upstream.url, 'test/single', '1')
    const dir = await mkdtemp(join(tmpdir(), 'dm-strat-'))
    const swarmKey = join(dir, 'swarm.key')
    await writeFile(swarmKey, generateSwarmKey())
    const noDocker = ['--docker-host', `unix://${join(dir, 'no-docker.sock')}`]
    a = await NodeProcess.start({ swarmKey, extraArgs: ['--upstream', upstream.url, ...noDocker] })
    b = await NodeProcess.start({ swarmKey, peerstore: await writePeerstore(dir, [a]), extraArgs: noDocker })
    await eventually(async () => (await a.api<Array<{ id: string, live: boolean }>>('/api/v1/peers')).body.some(p => p.id === b.peerId && p.live), 20_000, 'mesh')
  })
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await upstream?.stop()
  })

  const post = async <T>(path: string, body: unknown): Promise<{ status: number, body: T }> => a.api<T>(path, { method: 'POST', body: JSON.stringify(body) })

  it('lists the types', async () => {
    expect((await a.api('/api/v1/strategy/types')).body).toEqual(['percentage', 'target'])
  })

  it('rejects invalid strategies with 400 naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ type: 'everyone', nametag: 'busybox', execute: true }, 'type'],
      [{ type: 'percentage', nametag: 'busybox', percentage: 0, execute: true }, 'percentage'],
      [{ type: 'percentage', nametag: 'busybox', percentage: 101, execute: true }, 'percentage'],
      [{ type: 'percentage', nametag: 'busybox', percentage: 12.5, execute: true }, 'percentage'],
      [{ type: 'target', nametag: 'busybox', target: '12D3KooWUnknownPeerXXXXXXXXXXXXXXXXXXXXXXXXXXXXX', execute: true }, 'target'],
      [{ type: 'target', nametag: 'busybox', execute: true }, 'target'],
      [{ type: 'percentage', nametag: 'Not A Ref', percentage: 50, execute: true }, 'nametag'],
      [{ type: 'percentage', nametag: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', percentage: 50, execute: true }, 'nametag'],
      [{ type: 'percentage', nametag: 'busybox', percentage: 50, execute: 'yes' }, 'execute']
    ]
    for (const [body, field] of cases) {
      const res = await post<ErrorBody>('/api/v1/strategy', body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.body.error.field, JSON.stringify(body)).toBe(field)
    }
  })

  it('previews a selection without storing anything', async () => {
    const { status, body } = await post<{ selected: string[], replicas: number }>('/api/v1/strategy/preview', { type: 'percentage', nametag: 'test/single:1', percentage: 50, execute: true })
    expect(status).toBe(200)
    expect(body.replicas).toBe(1)
    expect(body.selected).toHaveLength(1)
    expect((await a.api<View[]>('/api/v1/strategy')).body).toEqual([])
  })

  it('accepts a DistroMash payload as a dry run, imports the image, and acts only once execute is on', async () => {
    const created = await post<View>('/api/v1/strategy', { type: 'percentage', nametag: 'test/single:1', percentage: 100, target: 'doesntmatter', execute: false })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ key: 'percentage-test/single:1-100', execute: false, replicas: 2 })
    expect(created.body.selected.sort()).toEqual([a.peerId, b.peerId].sort())
    const key = encodeURIComponent(created.body.key)
    await eventually(async () => (await a.api<View>(`/api/v1/strategy/${key}`)).body.image.state === 'ready', 20_000, 'import')
    await new Promise(resolve => setTimeout(resolve, 1500))
    expect((await a.api<View>(`/api/v1/strategy/${key}`)).body.status.pinned).toBe(0)

    const again = await post<ErrorBody>('/api/v1/strategy', { type: 'percentage', nametag: 'test/single:1', percentage: 100, execute: true })
    expect(again.status).toBe(409)

    const on = await a.api<View>('/api/v1/strategy', { method: 'PUT', body: JSON.stringify({ key: created.body.key, execute: true }) })
    expect(on.status).toBe(200)
    expect(on.body.execute).toBe(true)
    const done = await eventually(async () => {
      const { body } = await b.api<View>(`/api/v1/strategy/${key}`)
      return body.status.pinned === 2 ? body : undefined
    }, 30_000, 'both peers pinned')
    // no Docker engine: pinned only, and said so
    expect(done.status.peers.every(p => p.state === 'pinned' && !p.docker)).toBe(true)
    expect(done.status.wanted).toBe(2)
  })

  it('takes an image CID known to the mesh as nametag', async () => {
    const { body: images } = await a.api<Array<{ name: string, tag: string, cid: string }>>('/api/v1/images')
    const cid = images.find(i => i.name === 'test/single')?.cid ?? ''
    const { status, body } = await post<View>('/api/v1/strategy', { type: 'target', nametag: cid, target: b.peerId, execute: false })
    expect(status).toBe(201)
    expect(body.nametag).toBe('test/single:1')
    expect(body.selected).toEqual([b.peerId])
  })

  it('shows an import failure on the strategy', async () => {
    const { body } = await post<View>('/api/v1/strategy', { type: 'percentage', nametag: 'test/absent:1', percentage: 50, execute: true })
    expect(['importing', 'failed']).toContain(body.image.state)
    const failed = await eventually(async () => {
      const { body: view } = await a.api<View>(`/api/v1/strategy/${encodeURIComponent(body.key)}`)
      return view.image.state === 'failed' ? view : undefined
    }, 20_000, 'import failure')
    expect(failed.image.error).toMatch(/unknown|not found|404/i)
  })

  it('deletes strategies, and 404s unknown ones', async () => {
    const { body: all } = await a.api<View[]>('/api/v1/strategy')
    expect(all.length).toBe(3)
    for (const s of all) expect((await a.api(`/api/v1/strategy/${encodeURIComponent(s.key)}`, { method: 'DELETE' })).status).toBe(204)
    expect((await a.api('/api/v1/strategy/nope', { method: 'DELETE' })).status).toBe(404)
    expect((await a.api('/api/v1/strategy/nope')).status).toBe(404)
    const put = await a.api<ErrorBody>('/api/v1/strategy', { method: 'PUT', body: JSON.stringify({ key: 'nope', execute: true }) })
    expect(put.status).toBe(404)
    // the released pins go too
    await eventually(async () => (await b.api<{ cells: unknown[] }>('/api/v1/replication')).body.cells.length === 0, 20_000, 'statuses removed')
  })
})
