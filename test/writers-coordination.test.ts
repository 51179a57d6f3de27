import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateSwarmKey, loadOrCreatePeerKey } from '../packages/p2pcomm/src/index.js'
import { pushSingleImage } from '../packages/multiplatform2ipfs/test/helpers/images.js'
import { startRegistry, type RunningRegistry } from '../packages/multiplatform2ipfs/test/helpers/registry.js'
import { NodeProcess, eventually, sleep, writePeerstore } from './helpers/node-process.js'

interface View { key: string, selected: string[] }

const GRACE_S = 5

/**
 * Assignments under a writers file: the coordinator is the lowest live peer ID among the writers,
 * not of the whole mesh. The only writer here has the highest peer ID of five nodes, so a node
 * that coordinated by the old rule could not write a single assignment. A chosen host that is
 * gone is replaced, and the count follows the mesh as a node joins. Pins only, no Docker.
 */
describe('assignments follow the mesh under a writers file', () => {
  let upstream: RunningRegistry
  let dir = ''
  let swarmKey = ''
  let writers = ''
  let nodes: NodeProcess[] = []
  let dataDirs: string[] = []
  let writer: NodeProcess
  let late: NodeProcess | undefined
  const noDocker = (): string[] => ['--docker-host', `unix://${join(dir, 'none.sock')}`, '--grace-period', String(GRACE_S), '--writers', writers]

  beforeAll(async () => {
    upstream = await startRegistry()
    await pushSingleImage(upstream.url, 'dmtest/tiny', '1')
    dir = await mkdtemp(join(tmpdir(), 'dm-coord-'))
    swarmKey = join(dir, 'swarm.key')
    await writeFile(swarmKey, generateSwarmKey())
    const made = await Promise.all([0, 1, 2, 3, 4].map(async i => {
      const dataDir = join(dir, `node${i}`)
      await mkdir(dataDir)
      return { dataDir, id: peerIdFromPrivateKey(await loadOrCreatePeerKey(join(dataDir, 'peer.key'))).toString() }
    }))
    made.sort((a, b) => (a.id < b.id ? -1 : 1))
    // the highest peer ID of the five writes; the lowest joins late
    const writerDir = made[4] as { dataDir: string, id: string }
    writers = join(dir, 'writers')
    await writeFile(writers, `${writerDir.id}\n`)
    dataDirs = made.map(m => m.dataDir)
    writer = await NodeProcess.start({ dataDir: writerDir.dataDir, swarmKey, extraArgs: ['--upstream', upstream.url, ...noDocker()] })
    const peerstore = await writePeerstore(dir, [writer])
    nodes = [writer, ...await Promise.all([1, 2, 3].map(async i => NodeProcess.start({ dataDir: dataDirs[i], swarmKey, peerstore, extraArgs: noDocker() })))]
    for (const x of nodes) await eventually(async () => (await x.api<Array<{ self: boolean, live: boolean }>>('/api/v1/peers')).body.filter(p => !p.self && p.live).length === 3, 30_000, 'mesh of four')
    await sleep(GRACE_S * 1000) // the coordinator rewrites assignments only once it has been up a grace period
  }, 120_000)

  afterAll(async () => {
    await Promise.all([...nodes, late].map(async x => x?.stop()))
    await upstream?.stop()
  })

  const view = async (via: NodeProcess, key: string): Promise<View> => (await via.api<View>(`/api/v1/strategy/${encodeURIComponent(key)}`)).body

  it('replaces a chosen host that is gone, and follows the mesh as a node joins', async () => {
    const half = await writer.api<View>('/api/v1/strategy', { method: 'POST', body: JSON.stringify({ type: 'percentage', nametag: 'dmtest/tiny:1', percentage: 50, execute: true }) })
    const all = await writer.api<View>('/api/v1/strategy', { method: 'POST', body: JSON.stringify({ type: 'percentage', nametag: 'dmtest/tiny:1', percentage: 100, execute: true }) })
    expect([half.status, all.status]).toEqual([201, 201])
    expect(half.body.selected).toHaveLength(2)
    expect(all.body.selected).toHaveLength(4)
    const goneId = half.body.selected.find(id => id !== writer.peerId) as string
    const gone = nodes.find(x => x.peerId === goneId) as NodeProcess
    await gone.stop()
    const via = nodes.find(x => x !== gone && x !== writer) as NodeProcess
    const replaced = await eventually(async () => {
      const v = await view(via, half.body.key)
      return v.selected.length === 2 && !v.selected.includes(goneId) ? v.selected : undefined
    }, (GRACE_S + 30) * 1000, 'a replacement for the gone host')
    expect(replaced).toEqual(expect.arrayContaining(half.body.selected.filter(id => id !== goneId)))
    await eventually(async () => (await view(via, all.body.key)).selected.length === 3, (GRACE_S + 30) * 1000, 'the 100 % strategy to drop the gone host')

    late = await NodeProcess.start({ dataDir: dataDirs[0], swarmKey, peerstore: await writePeerstore(dir, [writer]), extraArgs: noDocker() })
    await eventually(async () => (await view(via, all.body.key)).selected.includes(late?.peerId ?? ''), 60_000, 'the joining node to be assigned')
    await eventually(async () => (await late!.api<{ cells: Array<{ peerId: string, state: string }> }>('/api/v1/replication')).body.cells
      .some(c => c.peerId === late?.peerId && c.state === 'pinned'), 60_000, 'the joining node to pin the image')
    // the joining node has the lowest peer ID of all: it is not a writer, so it never coordinated
    const { body: assignment } = await writer.api<Array<{ key: string, value: { by: string } }>>(`/api/v1/crdt?prefix=${encodeURIComponent('assignment/')}`)
    expect(assignment.every(a => a.value.by === writer.peerId)).toBe(true)
  }, 180_000)
})
