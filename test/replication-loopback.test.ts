import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateSwarmKey } from '../packages/p2pcomm/src/index.js'
import { startRegistry, type RunningRegistry } from '../packages/multiplatform2ipfs/test/helpers/registry.js'
import { DockerEngine, importBusyboxImage } from './helpers/docker.js'
import { NodeProcess, eventually, writePeerstore } from './helpers/node-process.js'

interface Cell { peerId: string, image: string, state: string, error?: string }
interface Strategy { key: string, selected: string[], status: { loaded: number, wanted: number } }

/**
 * Two real nodes on loopback, each beside its own real Docker engine, and a real upstream
 * registry that only node A is configured to use: a target strategy for B makes B fetch the
 * image from A over bitswap, load it into its engine and run it; deleting the strategy undoes it.
 */
describe('replication between two nodes with real Docker engines', () => {
  let upstream: RunningRegistry
  let engines: DockerEngine[] = []
  let a: NodeProcess
  let b: NodeProcess

  beforeAll(async () => {
    upstream = await startRegistry()
    engines = await Promise.all([DockerEngine.start(), DockerEngine.start()])
    const [ea] = engines as [DockerEngine, DockerEngine]
    await importBusyboxImage(ea, 'dmtest/hello:1', 'hello from the mesh')
    const port = new URL(upstream.url).port
    await ea.docker('tag', 'dmtest/hello:1', `127.0.0.1:${port}/dmtest/hello:1`)
    await ea.docker('push', `127.0.0.1:${port}/dmtest/hello:1`)
    await ea.docker('rmi', 'dmtest/hello:1', `127.0.0.1:${port}/dmtest/hello:1`)
    const dir = await mkdtemp(join(tmpdir(), 'dm-repl-'))
    const swarmKey = join(dir, 'swarm.key')
    await writeFile(swarmKey, generateSwarmKey())
    a = await NodeProcess.start({ swarmKey, extraArgs: ['--upstream', upstream.url, '--docker-host', engines[0]!.host, '--grace-period', '10'] })
    b = await NodeProcess.start({ swarmKey, peerstore: await writePeerstore(dir, [a]), extraArgs: ['--docker-host', engines[1]!.host, '--grace-period', '10'] })
    await eventually(async () => (await a.api<Array<{ id: string, connected: boolean }>>('/api/v1/peers')).body.some(p => p.id === b.peerId && p.connected), 20_000, 'a and b connected')
  })

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await Promise.all(engines.map(async e => e.stop()))
    await upstream?.stop()
  })

  const cell = async (node: NodeProcess, peerId: string): Promise<Cell | undefined> =>
    (await node.api<{ cells: Cell[] }>('/api/v1/replication')).body.cells.find(c => c.peerId === peerId && c.image === 'dmtest/hello:1')

  it('imports on the receiving node, replicates to the target and runs there', async () => {
    const created = await a.api<Strategy>('/api/v1/strategy', { method: 'POST', body: JSON.stringify({ type: 'target', nametag: 'dmtest/hello:1', target: b.peerId, percentage: 0, execute: true }) })
    expect(created.status).toBe(201)
    expect(created.body.selected).toEqual([b.peerId])
    await eventually(async () => (await cell(a, b.peerId))?.state === 'loaded', 60_000, 'B loaded')
    const [, eb] = engines as [DockerEngine, DockerEngine]
    expect(await eb.docker('run', '--rm', '--network', 'none', 'dmtest/hello:1')).toBe('hello from the mesh')
    // A was not targeted: its engine does not get the image
    expect(await engines[0]!.docker('images', '-q', 'dmtest/hello:1')).toBe('')
    const { body } = await a.api<Strategy>(`/api/v1/strategy/${encodeURIComponent(created.body.key)}`)
    expect(body.status).toMatchObject({ wanted: 1, loaded: 1 })
    const { body: pins } = await b.api<Array<{ owners: string[] }>>('/api/v1/pins')
    expect(pins.filter(p => p.owners.includes('dmtest/hello:1')).length).toBeGreaterThan(3)
  })

  it('undoes it on the target when the strategy is deleted', async () => {
    const { body: strategies } = await b.api<Strategy[]>('/api/v1/strategy')
    const key = strategies[0]?.key ?? ''
    expect((await b.api(`/api/v1/strategy/${encodeURIComponent(key)}`, { method: 'DELETE' })).status).toBe(204)
    await eventually(async () => (await cell(a, b.peerId)) == null, 30_000, 'B status removed')
    expect(await engines[1]!.docker('images', '-q', 'dmtest/hello:1')).toBe('')
    const { body: pins } = await b.api<Array<{ owners: string[] }>>('/api/v1/pins')
    expect(pins.filter(p => p.owners.includes('dmtest/hello:1'))).toEqual([])
  })
})
