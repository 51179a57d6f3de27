import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadOrCreatePeerKey } from '../packages/p2pcomm/src/index.js'
import { newSwarmKey, pushToUpstream, startRegistry, type Registry } from './helpers/cluster.js'
import { Host, SWARM_PORT } from './helpers/hosts.js'
import { KuboDaemon } from './helpers/kubo.js'
import { createLan, type Lan } from './helpers/netns.js'
import { eventually } from './helpers/node-process.js'

const KUBO_SWARM_PORT = 4002
const KUBO_API_PORT = 5001

interface Cell { peerId: string, image: string, state: string, cid: string, error?: string }
interface View { key: string, selected: string[] }
interface Pin { cid: string, owners: string[] }
interface Peer { id: string, self: boolean, connected: boolean, announcement?: unknown }

interface SidecarMesh {
  lan: Lan
  hosts: Host[]
  /** Each sidecar host's Kubo, by host index */
  kubos: Map<number, KuboDaemon>
  upstream: Registry
  destroy: () => Promise<void>
}

/**
 * Four namespaced hosts, each with its own dockerd and DistroMash node; the hosts in `sidecar`
 * run their own Kubo daemon too, in the same private network (one swarm key), and their node
 * keeps its content there (--ipfs-api). Every Kubo bootstraps to every DistroMash node and every
 * other Kubo; every node dials the Kubos too. Only host 1 reaches the upstream registry.
 */
async function startSidecarMesh (sidecar: number[]): Promise<SidecarMesh> {
  const lan = await createLan({ hosts: 4 })
  const kubos = new Map<number, KuboDaemon>()
  const mesh: SidecarMesh = { lan, hosts: [], kubos, upstream: undefined as unknown as Registry, destroy: async () => {} }
  mesh.destroy = async () => {
    const errors: unknown[] = []
    const attempt = async (step: () => Promise<void>): Promise<void> => { try { await step() } catch (err) { errors.push(err) } }
    await Promise.all(mesh.hosts.map(async h => { await attempt(async () => { await h.stop() }) }))
    await Promise.all([...kubos.values()].map(async k => { await attempt(async () => { await k.destroy() }) }))
    await Promise.all(mesh.hosts.map(async h => { await attempt(async () => { await h.stopDocker() }) }))
    if (mesh.upstream != null) await attempt(mesh.upstream.stop)
    await attempt(lan.destroy)
    if (errors.length > 0) throw new AggregateError(errors, 'sidecar mesh teardown failed')
  }
  try {
    const swarmKeyPath = join(lan.dir, 'swarm.key')
    await writeFile(swarmKeyPath, await newSwarmKey())
    const swarmKey = await readFile(swarmKeyPath, 'utf8')
    mesh.upstream = await startRegistry(lan.hosts[0]!, join(lan.dir, 'upstream'))
    // the nodes' peer IDs before they start, for their peerstore files
    const nodeAddrs = await Promise.all(lan.hosts.map(async net => {
      const key = await loadOrCreatePeerKey(join(lan.dir, net.label, 'node', 'peer.key'))
      return `/ip4/${net.ip}/tcp/${SWARM_PORT}/p2p/${peerIdFromPrivateKey(key).toString()}`
    }))
    for (const i of sidecar) {
      const net = lan.hosts[i]!
      kubos.set(i, await KuboDaemon.init({
        swarmKey, listen: `/ip4/${net.ip}/tcp/${KUBO_SWARM_PORT}`, wrap: ['ip', 'netns', 'exec', net.name], env: { LIBP2P_FORCE_PNET: '1' }
      }))
    }
    // nothing but the swarm key: each node peers its Kubo with the mesh's nodes and Kubos itself
    for (const kubo of kubos.values()) {
      // a fixed API port (each Kubo has a namespace of its own): a restarted daemon answers where its node looks
      await kubo.ipfs(['config', 'Addresses.API', `/ip4/127.0.0.1/tcp/${KUBO_API_PORT}`])
    }
    await Promise.all([...kubos.values()].map(async k => { await k.startDaemon() }))
    const apiToken = randomBytes(16).toString('hex')
    mesh.hosts = await Promise.all(lan.hosts.map(async (net, i) => {
      const dir = join(lan.dir, net.label)
      await mkdir(dir, { recursive: true })
      const kubo = kubos.get(i)
      return new Host(net, dir, {
        swarmKey: swarmKeyPath, apiToken, upstream: i === 0 ? mesh.upstream.url : undefined, nodeArgs: kubo != null ? ['--ipfs-api', kubo.apiUrl] : []
      })
    }))
    await Promise.all(mesh.hosts.map(async h => { await h.startDocker() }))
    // every node dials every other node (bootstrap peers are redialled until they answer)
    await Promise.all(mesh.hosts.map(async (h, i) => { await writeFile(h.peerstore, nodeAddrs.filter((_, j) => j !== i).join('\n') + '\n') }))
    await Promise.all(mesh.hosts.map(async h => { await h.start() }))
    for (const h of mesh.hosts) {
      await eventually(async () => (await h.api<Peer[]>('/api/v1/peers')).body.filter(p => !p.self && p.connected && p.announcement != null).length === 3, 60_000, `mesh on ${h.label}`)
    }
    return mesh
  } catch (err) {
    await mesh.destroy()
    throw err
  }
}

/** The shared scenario: a percentage-100 strategy loads everywhere, runs, and its deletion undoes it */
function replicatesAndUndoes (title: string, sidecar: number[], image: string, message: string): void {
  describe(title, () => {
    let mesh: SidecarMesh
    const h = (i: number): Host => mesh.hosts[i]!

    beforeAll(async () => {
      mesh = await startSidecarMesh(sidecar)
      const ref = await pushToUpstream(h(0), mesh.upstream, image, message)
      await h(0).docker('rmi', ref)
    }, 300_000)
    afterAll(async () => { await mesh?.destroy() }, 180_000)

    const cells = async (): Promise<Cell[]> => (await h(1).api<{ cells: Cell[] }>('/api/v1/replication')).body.cells.filter(c => c.image === image)
    /** Kubo's own pins (recursive and direct), not blocks held through them */
    const kuboPins = async (i: number): Promise<string> => {
      const kubo = mesh.kubos.get(i)!
      return (await kubo.ipfs(['pin', 'ls', '--type=recursive'])) + (await kubo.ipfs(['pin', 'ls', '--type=direct']))
    }

    it('each node says which content backend it uses', async () => {
      for (const [i, host] of mesh.hosts.entries()) {
        const kubo = mesh.kubos.get(i)
        const { body } = await host.api<{ content: { kind: string, url?: string } }>('/api/v1/identity')
        expect(body.content).toMatchObject(kubo != null ? { kind: 'kubo', url: kubo.apiUrl } : { kind: 'embedded' })
        expect(host.output).toMatch(kubo != null ? `content: kubo ${kubo.apiUrl}` : 'content: embedded (Helia)')
      }
    })

    let view: View
    it('percentage 100: loaded on every host, docker run works, sidecar blobs pinned in their Kubo', async () => {
      const res = await h(0).api<View>('/api/v1/strategy', { method: 'POST', body: JSON.stringify({ type: 'percentage', nametag: image, percentage: 100, execute: true }) })
      expect(res.status).toBe(201)
      view = res.body
      await eventually(async () => {
        const now = await cells()
        return now.length === 4 && now.every(c => c.state === 'loaded')
      }, 180_000, 'loaded on all 4 hosts').catch(async err => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(await cells())}\n${mesh.hosts.map(x => `${x.label}: ${x.output.slice(-2000)}`).join('\n')}`)
      })
      for (const host of mesh.hosts) expect(await host.docker('run', '--rm', '--network', 'none', image)).toBe(message)
      const cid = (await cells())[0]!.cid
      for (const [i, kubo] of mesh.kubos) {
        const owned = (await h(i).api<Pin[]>('/api/v1/pins')).body.filter(p => p.owners.includes(image)).map(p => p.cid)
        expect(owned.length).toBeGreaterThanOrEqual(5)
        const pins = await kuboPins(i)
        for (const pinned of owned) expect(pins).toContain(pinned)
        // what a host that did not import holds came over Kubo's bitswap
        if (i !== 0) expect((JSON.parse(await kubo.ipfs(['bitswap', 'stat', '--enc=json'])) as { BlocksReceived: number }).BlocksReceived).toBeGreaterThan(0)
        // the image root is in Kubo, not in the node's own blockstore
        await kubo.ipfs(['block', 'stat', '--offline', cid])
      }
    }, 240_000)

    it('a Kubo that goes away turns its host\'s status to failed, saying so, and back to loaded once it returns', async () => {
      const [i, kubo] = [...mesh.kubos].at(-1)!
      const mine = async (): Promise<Cell | undefined> => (await cells()).find(c => c.peerId === h(i).peerId)
      await kubo.stop()
      const failed = await eventually(async () => { const c = await mine(); return c?.state === 'failed' ? c : undefined }, 60_000, 'failed while Kubo is away')
      expect(failed.error).toMatch(new RegExp(`^content backend unavailable: Kubo API at ${kubo.apiUrl} is unreachable`))
      await kubo.startDaemon()
      await eventually(async () => (await mine())?.state === 'loaded', 60_000, 'loaded again once Kubo is back')
      expect(await h(i).docker('run', '--rm', '--network', 'none', image)).toBe(message)
    }, 150_000)

    it('deleting the strategy removes the image everywhere and unpins it in Kubo', async () => {
      const before = new Map<number, string[]>()
      for (const i of mesh.kubos.keys()) before.set(i, (await h(i).api<Pin[]>('/api/v1/pins')).body.filter(p => p.owners.includes(image)).map(p => p.cid))
      expect((await h(0).api(`/api/v1/strategy/${encodeURIComponent(view.key)}`, { method: 'DELETE' })).status).toBe(204)
      for (const host of mesh.hosts) await eventually(async () => (await host.docker('images', '-q', image)) === '', 60_000, `image removed from ${host.label}`)
      await eventually(async () => (await cells()).length === 0, 60_000, 'statuses removed')
      for (const [i, owned] of before) {
        const left = (await h(i).api<Pin[]>('/api/v1/pins')).body
        expect(left.some(p => p.owners.includes(image))).toBe(false)
        const pins = await kuboPins(i)
        // the importing host keeps its import's pin of the root; every pin the image held is gone
        const kept = new Set(left.map(p => p.cid))
        for (const cid of owned) if (!kept.has(cid)) expect(pins).not.toContain(cid)
      }
    }, 120_000)
  })
}

replicatesAndUndoes('Kubo sidecar mode: every host with its own Kubo in one private network', [0, 1, 2, 3], 'side/app:1', 'hello from kubo')
replicatesAndUndoes('a mixed mesh: two embedded nodes, two sidecar nodes', [2, 3], 'side/mixed:1', 'hello from a mixed mesh')
