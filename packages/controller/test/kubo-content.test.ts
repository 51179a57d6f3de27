import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { digestToRawCid, sha256Digest } from '@distromash/multiplatform2ipfs'
import { pushSingleImage } from '../../multiplatform2ipfs/test/helpers/images.js'
import { KuboDaemon } from '../../../test/helpers/kubo.js'
import { NodeProcess, freePort, runCli } from '../../../test/helpers/node-process.js'

/** A node whose content lives in a real Kubo daemon (--ipfs-api): start, banner, identity, pins */
describe('a node with its content in Kubo', () => {
  let kubo: KuboDaemon
  let node: NodeProcess

  beforeAll(async () => {
    kubo = await KuboDaemon.start()
    node = await NodeProcess.start({ extraArgs: ['--ipfs-api', kubo.apiUrl] })
  }, 120_000)
  afterAll(async () => {
    await node?.stop()
    await kubo?.destroy()
  })

  it('says which backend it uses: banner and identity', async () => {
    expect(node.output).toMatch(new RegExp(`^content: kubo ${kubo.apiUrl}$`, 'm'))
    const { body } = await node.api<{ content: unknown }>('/api/v1/identity')
    expect(body.content).toEqual({ kind: 'kubo', url: kubo.apiUrl, description: `kubo ${kubo.apiUrl}` })
  })

  it('pins in Kubo through the API, and lists the pin with its owner', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-kubo-file-'))
    await writeFile(join(dir, 'f'), 'held by kubo\n'.repeat(50_000))
    const cid = (await kubo.ipfs(['add', '-Q', '--cid-version=1', '--pin=false', join(dir, 'f')])).trim()
    const { status } = await node.api(`/api/v1/pin/${cid}`, { method: 'POST' })
    expect(status).toBe(200)
    expect(await kubo.ipfs(['pin', 'ls', '--type=recursive', cid])).toContain(cid)
    const { body: pins } = await node.api<Array<{ cid: string, owners: string[] }>>('/api/v1/pins')
    expect(pins).toContainEqual({ cid, owners: [`api:${cid}`] })
  })

  it('a docker-style push lands in Kubo (each blob as one dag import) and pulls back byte for byte', async () => {
    const image = await pushSingleImage(node.registryUrl, 'dmtest/pushed', '1')
    const layer = image.layers[0]
    if (layer === undefined) throw new Error('no layer')
    // the blob's blocks are in Kubo: it can read the raw leaf named by the layer's digest
    const leaf = digestToRawCid(layer.digest).toString()
    const stat = JSON.parse(await kubo.ipfs(['block', 'stat', '--offline', '--enc=json', leaf], { timeoutMs: 10_000 })) as { Size: number }
    expect(stat.Size).toBe(layer.size)
    const res = await fetch(`${node.registryUrl}/v2/dmtest/pushed/blobs/${layer.digest}`)
    expect(res.status).toBe(200)
    expect(sha256Digest(new Uint8Array(await res.arrayBuffer()))).toBe(layer.digest)
    const manifest = await fetch(`${node.registryUrl}/v2/dmtest/pushed/manifests/1`, { headers: { accept: image.mediaType } })
    expect(manifest.headers.get('docker-content-digest')).toBe(image.digest)
  })

  it('counts its Kubo\'s repo in its disk use (/health, /metrics): that is where its blocks are', async () => {
    const repo = (JSON.parse(await kubo.ipfs(['repo', 'stat', '--size-only', '--enc=json'])) as { RepoSize: number }).RepoSize
    expect(repo).toBeGreaterThan(500_000) // the pinned file and the pushed image
    // the budget measures every 10 s
    const deadline = Date.now() + 30_000
    let used = 0
    while (Date.now() < deadline) {
      used = (await node.api<{ disk: { usedBytes: number } }>('/health')).body.disk.usedBytes
      if (used >= repo) break
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    expect(used).toBeGreaterThanOrEqual(repo)
    const metrics = await (await fetch(`${node.apiUrl}/metrics`)).text()
    expect(Number(/^distromash_disk_used_bytes (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(repo)
  }, 60_000)

  it('refuses to start with one line and exit 2 when the Kubo API does not answer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-cli-'))
    const port = await freePort()
    const { code, stderr } = await runCli(['node', '--data-dir', dir, '--ipfs-api', `http://127.0.0.1:${port}`, '--swarm-port', '0', '--api-port', String(await freePort()), '--peerstore', join(dir, 'none')])
    expect(code).toBe(2)
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr.trim()).toBe(`distromash: --ipfs-api: Kubo API at http://127.0.0.1:${port} is unreachable: ECONNREFUSED`)
  })

  it('refuses a malformed --ipfs-api with one line and exit 2', async () => {
    const { code, stderr } = await runCli(['node', '--ipfs-api', '127.0.0.1:5001'])
    expect(code).toBe(2)
    expect(stderr.trim()).toMatch(/^distromash: invalid setting --ipfs-api \(DISTROMASH_IPFS_API\): must be an http\(s\) URL/)
  })
})
