import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256Digest } from '../packages/multiplatform2ipfs/src/digest.js'
import { pushBlob, pushSingleImage } from '../packages/multiplatform2ipfs/test/helpers/images.js'
import { startRegistry, type RunningRegistry } from '../packages/multiplatform2ipfs/test/helpers/registry.js'
import { NodeProcess, eventually } from './helpers/node-process.js'

interface ErrorBody { error: { code: string, field?: string, message: string } }
interface OciBody { errors: Array<{ code: string }> }

const rssMb = async (pid: number): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024
const fds = async (pid: number): Promise<number> => (await readdir(`/proc/${pid}/fd`)).length

/** One raw HTTP request with a chosen Host header */
async function withHost (url: string, host: string, method = 'GET'): Promise<{ status: number, body: string }> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, headers: { host } }, res => {
      let body = ''
      res.on('data', d => { body += String(d) })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

/**
 * Issue 16's attacks by API and registry clients, each against a real node process, each showing
 * the budget that now holds (RSS, file descriptors, disk, statuses).
 */
describe('a node under abusive clients', () => {
  let upstream: RunningRegistry
  let node: NodeProcess
  let dataDir = ''

  beforeAll(async () => {
    upstream = await startRegistry()
    await pushSingleImage(upstream.url, 'dmtest/ok', '1')
    dataDir = await mkdtemp(join(tmpdir(), 'dm-abuse-'))
    // a session file a killed node left behind
    await mkdir(join(dataDir, 'uploads'), { recursive: true })
    await writeFile(join(dataDir, 'uploads', 'left-by-a-crash'), Buffer.alloc(1024 * 1024))
    node = await NodeProcess.start({ dataDir, extraArgs: ['--upstream', upstream.url, '--docker-host', 'unix:///nonexistent.sock', '--max-upload-sessions', '64'] })
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
    await upstream?.stop()
  })

  it('upload-session flood: sessions beyond the cap get 429, RSS stays bounded, and a crash\'s leftovers are gone', async () => {
    expect(await readdir(join(dataDir, 'uploads'))).toEqual([])
    const before = await rssMb(node.pid)
    const statuses = new Map<number, number>()
    const open: string[] = []
    for (let i = 0; i < 2000; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, async () => fetch(`${node.registryUrl}/v2/flood/x/blobs/uploads/`, { method: 'POST' })))
      for (const r of batch) {
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
        if (r.status === 202) open.push(r.headers.get('location') ?? '')
      }
    }
    expect(Object.fromEntries(statuses)).toEqual({ 202: 64, 429: 1936 })
    const res = await fetch(`${node.registryUrl}/v2/flood/x/blobs/uploads/`, { method: 'POST' })
    expect(((await res.json()) as OciBody).errors[0]?.code).toBe('TOOMANYREQUESTS')
    expect(await rssMb(node.pid) - before).toBeLessThan(30)
    for (const location of open) expect((await fetch(new URL(location, node.registryUrl), { method: 'DELETE' })).status).toBe(204)
  })

  it('oversized upload: a PATCH past the size limit is cut with 413 and leaves no file', async () => {
    const fresh = await NodeProcess.start({ extraArgs: ['--docker-host', 'unix:///nonexistent.sock', '--max-upload-size', '1MiB'] })
    try {
      const start = await fetch(`${fresh.registryUrl}/v2/big/x/blobs/uploads/`, { method: 'POST' })
      const location = new URL(start.headers.get('location') ?? '', fresh.registryUrl)
      const patch = await fetch(location, { method: 'PATCH', body: Buffer.alloc(8 * 1024 * 1024, 1), headers: { 'content-type': 'application/octet-stream' } }).catch(() => undefined)
      if (patch != null) {
        expect(patch.status).toBe(413)
        expect(((await patch.json()) as OciBody).errors[0]?.code).toBe('SIZE_INVALID')
      }
      await eventually(async () => (await readdir(join(fresh.options.dataDir, 'uploads'))).length === 0, 5000, 'the cut session\'s file removed')
    } finally {
      await fresh.stop()
    }
  })

  it('disk filling up: uploads are refused with 507 while free space is under the reserve, and accepted again once it returns', async () => {
    const { execFile } = await import('node:child_process')
    const { promisify } = await import('node:util')
    const { rm } = await import('node:fs/promises')
    const run = promisify(execFile)
    const mnt = await mkdtemp(join(tmpdir(), 'dm-tmpfs-'))
    await run('mount', ['-t', 'tmpfs', '-o', 'size=96m', 'tmpfs', mnt])
    let small: NodeProcess | undefined
    try {
      await mkdir(join(mnt, 'node'))
      small = await NodeProcess.start({ dataDir: join(mnt, 'node'), extraArgs: ['--docker-host', 'unix:///nonexistent.sock', '--min-free-disk', '48MiB'] })
      const start = async (): Promise<Response> => fetch(`${small!.registryUrl}/v2/disk/x/blobs/uploads/`, { method: 'POST' })
      expect((await start()).status).toBe(202)
      await writeFile(join(mnt, 'filler'), Buffer.alloc(64 * 1024 * 1024))
      const full = await start()
      expect(full.status).toBe(507)
      expect(((await full.json()) as OciBody).errors[0]?.code).toBe('UNAVAILABLE')
      expect((await small.api('/health')).status).toBe(200)
      await rm(join(mnt, 'filler'))
      expect((await start()).status).toBe(202)
    } finally {
      await small?.stop()
      await run('umount', [mnt]).catch(() => {})
    }
  }, 60_000)

  it('index naming a huge blob as a child manifest: refused by its size, not read into memory', async () => {
    const big = Buffer.alloc(48 * 1024 * 1024, 0x20)
    const blob = { digest: sha256Digest(big), size: big.length, mediaType: 'application/octet-stream', bytes: big }
    await pushBlob(node.registryUrl, 'huge/x', blob)
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: blob.digest, size: 250, platform: { os: 'linux', architecture: 'amd64' } }] }))
    const before = await rssMb(node.pid)
    const res = await fetch(`${node.registryUrl}/v2/huge/x/manifests/1`, { method: 'PUT', body: index, headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' } })
    expect(res.status).toBe(413)
    expect(((await res.json()) as OciBody).errors[0]?.code).toBe('MANIFEST_INVALID')
    expect(await rssMb(node.pid) - before).toBeLessThan(24)
  })

  it('DNS rebinding: a foreign Host is refused by the API and the registry; IPs and localhost are served', async () => {
    const api = await withHost(`${node.apiUrl}/api/v1/identity`, 'attacker.example')
    expect(api.status).toBe(403)
    expect(JSON.parse(api.body)).toMatchObject({ error: { code: 'HOST_NOT_ALLOWED', field: 'host' } })
    const registry = await withHost(`${node.registryUrl}/v2/`, 'attacker.example:5005')
    expect(registry.status).toBe(403)
    expect((JSON.parse(registry.body) as OciBody).errors[0]?.code).toBe('DENIED')
    expect((await withHost(`${node.apiUrl}/api/v1/identity`, 'localhost')).status).toBe(200)
    expect((await withHost(`${node.registryUrl}/v2/`, '127.0.0.1:5005')).status).toBe(200)
  })

  it('event-stream flood: streams beyond the cap get 503, file descriptors stay bounded', async () => {
    const before = await fds(node.pid)
    const controller = new AbortController()
    const opened = await Promise.all(Array.from({ length: 200 }, async () => fetch(`${node.apiUrl}/api/v1/events`, { signal: controller.signal }).then(r => r.status).catch(() => 0)))
    try {
      expect(opened.filter(s => s === 200)).toHaveLength(64)
      expect(opened.filter(s => s === 503)).toHaveLength(136)
      // 64 streams held open; the refused ones' sockets close right after their answer
      await eventually(async () => await fds(node.pid) - before < 100, 5000, 'file descriptors back under the budget')
      expect((await node.api('/health')).status).toBe(200)
    } finally {
      controller.abort()
    }
    await eventually(async () => (await fetch(`${node.apiUrl}/api/v1/events`, { signal: AbortSignal.timeout(2000) }).then(r => { void r.body?.cancel(); return r.status }).catch(() => 0)) === 200, 10_000, 'streams freed after the clients left')
  })

  it('poison record: a value nested 3,000 deep is refused with 400, and every read keeps working', async () => {
    const deep = '['.repeat(3000) + ']'.repeat(3000)
    const res = await node.api<ErrorBody>('/api/v1/crdt', { method: 'POST', body: `{"key":"poison","value":${deep}}` })
    expect(res.status).toBe(400)
    expect(res.body.error.field).toBe('value')
    expect((await node.api('/api/v1/crdt')).status).toBe(200)
    expect((await node.api('/api/v1/strategy')).status).toBe(200)
  })

  it('a 470-character image name is refused with 400 naming the field, so no derived key overflows', async () => {
    const res = await node.api<ErrorBody>('/api/v1/strategy', { method: 'POST', body: JSON.stringify({ type: 'percentage', nametag: `a/${'b'.repeat(460)}:1`, percentage: 100 }) })
    expect(res.status).toBe(400)
    expect(res.body.error.field).toBe('nametag')
    // the node replicates as before
    const ok = await node.api('/api/v1/strategy', { method: 'POST', body: JSON.stringify({ type: 'percentage', nametag: 'dmtest/ok:1', percentage: 100 }) })
    expect(ok.status).toBe(201)
    await eventually(async () => (await node.api<{ cells: Array<{ state: string }> }>('/api/v1/replication')).body.cells.some(c => c.state === 'pinned'), 30_000, 'the honest image pinned')
  }, 60_000)
})
