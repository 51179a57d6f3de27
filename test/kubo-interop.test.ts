import { execFile } from 'node:child_process'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { generateSwarmKey } from '../packages/p2pcomm/src/index.js'
import { CHUNK_SIZE, MAX_CHILDREN_PER_NODE } from '../packages/multiplatform2ipfs/src/constants.js'
import { pushSizedLayersImage, type PushedImage } from '../packages/multiplatform2ipfs/test/helpers/images.js'
import { startRegistry, type RunningRegistry } from '../packages/multiplatform2ipfs/test/helpers/registry.js'
import { KuboDaemon } from './helpers/kubo.js'
import { NodeProcess, eventually, sleep, writePeerstore } from './helpers/node-process.js'

const execFileP = promisify(execFile)
const skopeo = async (...args: string[]): Promise<string> => (await execFileP('skopeo', args, { maxBuffer: 64 * 1024 * 1024 })).stdout

/**
 * A real Kubo (0.43.1, scripts/install-kubo.sh) inside the mesh's private network: it joins with
 * the swarm key, fetches what DistroMash imported (finding the holder through the DHT), gives
 * back the same CIDs for the same layout, and serves what it added to DistroMash's registry.
 * A Kubo with another key, or none, never gets in.
 */
describe('a real Kubo in the private network', () => {
  let upstream: RunningRegistry
  let image: PushedImage
  let a: NodeProcess
  let b: NodeProcess
  let kubo: KuboDaemon
  let dir: string
  let swarmKey = ''

  // the layer sizes of issue 13: around one chunk, one full file node (174 links) and a two-level DAG
  const layerSizes = [0, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, MAX_CHILDREN_PER_NODE * CHUNK_SIZE, MAX_CHILDREN_PER_NODE * CHUNK_SIZE + 1, 50 * 1024 * 1024 + 1234]

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dm-kubo-interop-'))
    upstream = await startRegistry()
    image = await pushSizedLayersImage(upstream.url, 'dmtest/sizes', '1', layerSizes)
    swarmKey = generateSwarmKey()
    const keyPath = join(dir, 'swarm.key')
    await writeFile(keyPath, swarmKey)
    const noDocker = ['--docker-host', `unix://${join(dir, 'none.sock')}`]
    a = await NodeProcess.start({ swarmKey: keyPath, extraArgs: ['--upstream', upstream.url, ...noDocker] })
    b = await NodeProcess.start({ swarmKey: keyPath, peerstore: await writePeerstore(dir, [a]), extraArgs: noDocker })
    await eventually(async () => (await b.api<Array<{ id: string, connected: boolean }>>('/api/v1/peers')).body.some(p => p.id === a.peerId && p.connected), 20_000, 'mesh')
    // Kubo knows node B only: whatever it learns of A, it learns through the mesh's DHT
    kubo = await KuboDaemon.start({ swarmKey, bootstrap: [b.multiaddr], env: { LIBP2P_FORCE_PNET: '1' } })
  }, 180_000)

  afterAll(async () => {
    await kubo?.destroy()
    await Promise.all([a?.stop(), b?.stop()])
    await upstream?.stop()
  })

  let root = ''

  it('joins the mesh with the swarm key', async () => {
    expect(kubo.output).toContain('Swarm is limited to private network of peers with the swarm key')
    await eventually(async () => (await kubo.connectedPeers()).includes(b.peerId), 20_000, 'Kubo connected to B')
    await eventually(async () => (await b.api<Array<{ id: string }>>('/api/v1/peers')).body.some(p => p.id === kubo.peerId), 20_000, 'B lists Kubo')
  })

  it('finds node A as a provider of an image only A holds, through the DHT', async () => {
    const { status, body } = await a.api<{ cid: string }>('/api/v1/image?wait=true', { method: 'POST', body: JSON.stringify({ name: 'dmtest/sizes', tag: '1' }) })
    expect(status).toBe(200)
    root = body.cid
    const providers = await eventually(async () => {
      const found = await kubo.ipfs(['routing', 'findprovs', '--num-providers=5', root], { timeoutMs: 30_000 }).catch(() => '')
      return found.split('\n').includes(a.peerId) ? found : undefined
    }, 90_000, 'Kubo finds A as a provider')
    expect(providers).not.toContain(b.peerId)
  }, 150_000)

  it('ipfs get returns the OCI layout: skopeo reads it, and Kubo hashes it to the same root CID', async () => {
    expect(root).not.toBe('')
    const out = join(dir, 'from-kubo')
    await kubo.ipfs(['get', '-o', out, root], { timeoutMs: 300_000 })
    const copied = join(dir, 'skopeo-dir')
    await skopeo('copy', '--quiet', `oci:${out}:1`, `dir:${copied}`)
    const manifest = JSON.parse(await readFile(join(copied, 'manifest.json'), 'utf8')) as { layers: Array<{ digest: string, size: number }> }
    expect(manifest.layers.map(l => l.size)).toEqual(layerSizes)
    expect(manifest.layers.map(l => l.digest)).toEqual(image.manifests[0]?.layers.map(l => l.digest))
    expect((await kubo.ipfs(['add', '-r', '--cid-version=1', '--only-hash', '-Q', out])).trim()).toBe(root)
    // every blob is its own provider record too, not only the root
    const blob = image.manifests[0]?.layers[6]?.digest.slice('sha256:'.length) ?? ''
    const blobCid = (await kubo.ipfs(['resolve', '-r', `/ipfs/${root}/blobs/sha256/${blob}`])).trim().replace('/ipfs/', '')
    const blobProviders = await kubo.ipfs(['routing', 'findprovs', '--num-providers=5', blobCid], { timeoutMs: 60_000 })
    expect(blobProviders.split('\n')).toContain(a.peerId)
  }, 400_000)

  it('a layout added to Kubo is pulled by its CID through a DistroMash registry, blocks fetched from Kubo', async () => {
    const layout = join(dir, 'kubo-layout')
    // --preserve-digests: skopeo would otherwise gzip the uncompressed test layers on the way
    await skopeo('copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', `docker://${new URL(upstream.url).host}/dmtest/sizes:1`, `oci:${layout}:1`)
    // a Kubo of its own, knowing B only, started just now: it identifies its connection to B
    // before it registers bitswap and pushes the change a moment later, which B must take
    // (identify/push) or B's bitswap never asks it for anything
    const adder = await KuboDaemon.start({ swarmKey, bootstrap: [b.multiaddr], env: { LIBP2P_FORCE_PNET: '1' } })
    onTestFinished(async () => { await adder.destroy() })
    await eventually(async () => (await adder.connectedPeers()).includes(b.peerId), 20_000, 'the adding Kubo connected to B')
    const cid = (await adder.ipfs(['add', '-r', '--cid-version=1', '-Q', layout], { timeoutMs: 300_000 })).trim()
    // skopeo wrote its own index.json (no DistroMash CID for it exists): a root no DistroMash node holds
    expect(cid).not.toBe(root)
    const sentBefore = await kuboDataSent(adder)
    const pulled = join(dir, 'pulled-from-b')
    const registry = new URL(b.registryUrl).host
    await skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${registry}/${cid}:1`, `dir:${pulled}`)
    const manifest = JSON.parse(await readFile(join(pulled, 'manifest.json'), 'utf8')) as { layers: Array<{ digest: string }> }
    expect(manifest.layers.map(l => l.digest)).toEqual(image.manifests[0]?.layers.map(l => l.digest))
    // the layout's own blocks (its index.json, its directories) exist nowhere but in Kubo
    expect(await kuboDataSent(adder)).toBeGreaterThan(sentBefore)
  }, 400_000)

  async function kuboDataSent (from: KuboDaemon): Promise<number> {
    return (JSON.parse(await from.ipfs(['bitswap', 'stat', '--enc=json'])) as { DataSent: number }).DataSent
  }

  it('a Kubo with another swarm key, or with none, never connects', async () => {
    const others = await Promise.all([
      KuboDaemon.start({ swarmKey: generateSwarmKey(), bootstrap: [a.multiaddr, b.multiaddr], env: { LIBP2P_FORCE_PNET: '1' } }),
      KuboDaemon.start({ bootstrap: [a.multiaddr, b.multiaddr] })
    ])
    try {
      for (const other of others) {
        await other.ipfs(['swarm', 'connect', a.multiaddr], { timeoutMs: 30_000 }).then(
          () => { throw new Error(`Kubo ${other.peerId} connected to A`) },
          (err: Error) => { expect(err.message).toMatch(/failed|timed out|deadline|context/i) })
      }
      await sleep(5_000)
      for (const other of others) {
        expect(await other.connectedPeers()).toEqual([])
        for (const node of [a, b]) {
          const peers = (await node.api<Array<{ id: string }>>('/api/v1/peers')).body.map(p => p.id)
          expect(peers).not.toContain(other.peerId)
        }
      }
    } finally {
      await Promise.all(others.map(async o => { await o.destroy() }))
    }
    // and a Kubo forced into a private network without a key refuses to start at all
    const keyless = await KuboDaemon.init({ env: { LIBP2P_FORCE_PNET: '1' } })
    try {
      await expect(keyless.startDaemon()).rejects.toThrow(/private network|swarm key|pnet/i)
    } finally {
      await keyless.destroy()
    }
  }, 120_000)
})
