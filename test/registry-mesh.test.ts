import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateSwarmKey } from '../packages/p2pcomm/src/index.js'
import { startRegistry, type RunningRegistry } from '../packages/multiplatform2ipfs/test/helpers/registry.js'
import { DockerEngine, importBusyboxImage } from './helpers/docker.js'
import { NodeProcess, eventually, writePeerstore } from './helpers/node-process.js'

/**
 * The registry of every node serves every image of the mesh: import on A or push to A, then a
 * real Docker engine pulls from B's registry, which fetches the blocks from A over bitswap.
 */
describe('registry across two nodes', () => {
  let upstream: RunningRegistry
  let pusher: DockerEngine
  let puller: DockerEngine
  let a: NodeProcess
  let b: NodeProcess
  let upstreamDigest = ''

  beforeAll(async () => {
    upstream = await startRegistry()
    ;[pusher, puller] = await Promise.all([DockerEngine.start(), DockerEngine.start()])
    await importBusyboxImage(pusher, 'dmtest/reg:1', 'served by the mesh')
    const up = `127.0.0.1:${new URL(upstream.url).port}/dmtest/reg:1`
    await pusher.docker('tag', 'dmtest/reg:1', up)
    const pushed = await pusher.docker('push', up)
    upstreamDigest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1] ?? ''
    const dir = await mkdtemp(join(tmpdir(), 'dm-regmesh-'))
    const swarmKey = join(dir, 'swarm.key')
    await writeFile(swarmKey, generateSwarmKey())
    const noDocker = ['--docker-host', `unix://${join(dir, 'none.sock')}`]
    a = await NodeProcess.start({ swarmKey, extraArgs: ['--upstream', upstream.url, ...noDocker] })
    b = await NodeProcess.start({ swarmKey, peerstore: await writePeerstore(dir, [a]), extraArgs: noDocker })
    await eventually(async () => (await b.api<Array<{ id: string, connected: boolean }>>('/api/v1/peers')).body.some(p => p.id === a.peerId && p.connected), 20_000, 'mesh')
  })

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await Promise.all([pusher?.stop(), puller?.stop()])
    await upstream?.stop()
  })

  const host = (node: NodeProcess): string => node.registryUrl.replace('http://', '')

  it('imports on A; Docker pulls by name and by CID from B and runs it with the upstream digest', async () => {
    expect(upstreamDigest).toMatch(/^sha256:/)
    const { status, body } = await a.api<{ cid: string, digest: string }>('/api/v1/image?wait=true', { method: 'POST', body: JSON.stringify({ name: 'dmtest/reg', tag: '1' }) })
    expect(status).toBe(200)
    expect(body.digest).toBe(upstreamDigest)
    await eventually(async () => (await b.api('/api/v1/crdt/image%2Fdmtest%2Freg%3A1')).status === 200, 10_000, 'record on B')

    await puller.docker('pull', `${host(b)}/dmtest/reg:1`)
    expect(await puller.docker('run', '--rm', '--network', 'none', `${host(b)}/dmtest/reg:1`)).toBe('served by the mesh')
    const digests = await puller.docker('inspect', '--format', '{{json .RepoDigests}}', `${host(b)}/dmtest/reg:1`)
    expect(digests).toContain(upstreamDigest)

    await puller.docker('pull', `${host(b)}/${body.cid}`)
    expect(await puller.docker('run', '--rm', '--network', 'none', `${host(b)}/${body.cid}`)).toBe('served by the mesh')
  })

  it('takes a docker push on A and serves it from B', async () => {
    const target = `${host(a)}/pushed/reg:2`
    await pusher.docker('tag', 'dmtest/reg:1', target)
    await pusher.docker('push', target)
    await eventually(async () => (await b.api('/api/v1/crdt/image%2Fpushed%2Freg%3A2')).status === 200, 10_000, 'pushed record on B')
    await puller.docker('pull', `${host(b)}/pushed/reg:2`)
    expect(await puller.docker('run', '--rm', '--network', 'none', `${host(b)}/pushed/reg:2`)).toBe('served by the mesh')
  })
})
