import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pushToUpstream, startCluster, type Cluster } from './helpers/cluster.js'
import { REGISTRY_PORT, UPSTREAM_PORT, type Host } from './helpers/hosts.js'
import { measureThroughput, probeConnect } from './helpers/net-probes.js'
import type { LanHost } from './helpers/netns.js'
import { eventually } from './helpers/node-process.js'

interface Peer { id: string, self: boolean, connected: boolean, live: boolean, addrs: string[] }

/**
 * The multi-host infrastructure itself: 4 network namespaces on a private bridge in 198.18.0.0/24,
 * each with its own dockerd and DistroMash node; an upstream registry only the first host reaches.
 * Needs root, iproute2, tc, dockerd, docker-registry and busybox-static, and fails (never skips)
 * without them.
 */
describe('multi-host LAN of namespaces', () => {
  let cluster: Cluster
  let hosts: Host[] = []
  const host = (i: number): Host => hosts[i] as Host
  const net = (i: number): LanHost => host(i).net

  beforeAll(async () => {
    cluster = await startCluster({ hosts: 4, upstream: true })
    hosts = cluster.hosts
  }, 180_000)

  afterAll(async () => {
    await cluster?.destroy()
  }, 120_000)

  it('gives every host its own namespace address and a peer ID', () => {
    expect(hosts.map(h => h.ip)).toEqual(['198.18.0.11', '198.18.0.12', '198.18.0.13', '198.18.0.14'])
    expect(new Set(hosts.map(h => h.peerId)).size).toBe(4)
    for (const h of hosts) expect(h.output).toMatch(/private network: on/)
  })

  it('meshes every node with the other three over their 198.18.0.x addresses', async () => {
    for (const h of hosts) {
      const others = hosts.filter(o => o !== h)
      await eventually(async () => {
        const { body } = await h.api<Peer[]>('/api/v1/peers')
        const connected = body.filter(p => !p.self && p.connected)
        return others.every(o => connected.some(p => p.id === o.peerId && p.addrs.some(a => a.startsWith(`/ip4/${o.ip}/tcp/`))))
      }, 30_000, `peers of ${h.label}`)
    }
  }, 60_000)

  it('replicates a store write on host 4 to host 1', async () => {
    const value = { from: 'h4', at: Date.now() }
    const { status } = await host(3).api('/api/v1/crdt', { method: 'POST', body: JSON.stringify({ key: 'smoke/h4', value }) })
    expect(status).toBe(201)
    await eventually(async () => {
      const { status, body } = await host(0).api<{ value: unknown }>('/api/v1/crdt/smoke%2Fh4')
      return status === 200 && JSON.stringify(body.value) === JSON.stringify(value)
    }, 15_000, 'the write on host 1')
  })

  it('runs a busybox image on host 1 pulled from its upstream', async () => {
    const upstream = cluster.upstream
    if (upstream == null) throw new Error('the cluster has no upstream')
    const ref = await pushToUpstream(host(0), upstream, 'smoke/busybox:1', 'hello from h1')
    // remove the local copy so the run below needs the pull from the upstream
    await host(0).docker('rmi', ref)
    await host(0).docker('pull', ref)
    expect(await host(0).docker('run', '--rm', '--network', 'none', ref)).toBe('hello from h1')
  }, 60_000)

  it('keeps the upstream out of reach of the other hosts', async () => {
    expect(await probeConnect(net(0), '127.0.0.1', UPSTREAM_PORT)).toBe('connected')
    for (const i of [1, 2, 3]) {
      // their own loopback has nothing on that port, and host 1's is not on the LAN
      expect(await probeConnect(net(i), '127.0.0.1', UPSTREAM_PORT)).toBe('ECONNREFUSED')
      expect(await probeConnect(net(i), host(0).ip, UPSTREAM_PORT)).toBe('ECONNREFUSED')
    }
  })

  it('serves each node registry on its own namespace loopback', async () => {
    // what the reconciler relies on: 127.0.0.1:5005 inside a namespace is that host's node only
    expect(await probeConnect(net(1), '127.0.0.1', REGISTRY_PORT)).toBe('connected')
    expect(await probeConnect(net(1), host(0).ip, REGISTRY_PORT)).toBe('ECONNREFUSED')
  })

  it('keeps the peer ID across a restart and rejoins the mesh', async () => {
    const h = host(2)
    const id = h.peerId
    await h.restart()
    expect(h.peerId).toBe(id)
    await eventually(async () => {
      const { body } = await host(0).api<Peer[]>('/api/v1/peers')
      return body.some(p => p.id === id && p.connected)
    }, 30_000, 'host 3 back in the mesh')
  }, 60_000)

  it('shapes a host link to the configured rate (±20%)', async () => {
    const rate = 50
    await Promise.all([net(0).shape(rate), net(1).shape(rate)])
    try {
      const mbit = await measureThroughput(net(0), net(1), 20)
      console.log(`shaped to ${rate} Mbit/s: measured ${mbit.toFixed(1)} Mbit/s`)
      expect(mbit).toBeGreaterThan(rate * 0.8)
      expect(mbit).toBeLessThan(rate * 1.2)
    } finally {
      await Promise.all([net(0).shape(), net(1).shape()])
    }
  }, 30_000)
})
