import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NodeProcess, eventually, runCli } from '../../../test/helpers/node-process.js'
import { startRegistry, type RunningRegistry } from '../../multiplatform2ipfs/test/helpers/registry.js'
import { pushMultiPlatformImage, type PushedImage } from '../../multiplatform2ipfs/test/helpers/images.js'

interface Job { id: string, state: string, cid?: string, error?: string, bytesDone: number, bytesTotal: number, platforms?: string[] }
interface ErrorBody { error: { code: string, message: string, field?: string } }

/** Image import through the API and CLI of a real node, from a real docker-registry upstream. */
describe('image import API', () => {
  let upstream: RunningRegistry
  let image: PushedImage
  let node: NodeProcess

  beforeAll(async () => {
    upstream = await startRegistry()
    image = await pushMultiPlatformImage(upstream.url, 'test/multi', '1')
    node = await NodeProcess.start({ extraArgs: ['--upstream', upstream.url] })
  })
  afterAll(async () => {
    await node?.stop()
    await upstream?.stop()
  })

  const finished = async (id: string): Promise<Job> => eventually(async () => {
    const { body } = await node.api<Job>(`/api/v1/jobs/${id}`)
    return body.state !== 'running' ? body : undefined
  }, 30_000, `job ${id}`)

  it('imports every platform as a job and records the image in the store', async () => {
    const { status, body } = await node.api<Job>('/api/v1/image', { method: 'POST', body: JSON.stringify({ name: 'test/multi', tag: '1' }) })
    expect(status).toBe(202)
    expect(body.state).toBe('running')
    const job = await finished(body.id)
    expect(job).toMatchObject({ state: 'done', platforms: ['linux/amd64', 'linux/arm64/v8'] })
    expect(job.cid).toMatch(/^bafy/)
    expect(job.bytesDone).toBe(job.bytesTotal)
    const { body: record } = await node.api<{ value: { cid: string, digest: string } }>(`/api/v1/crdt/${encodeURIComponent('image/test/multi:1')}`)
    expect(record.value).toMatchObject({ cid: job.cid, digest: image.digest })
    const { body: byCid } = await node.api<{ value: { name: string, tag: string } }>(`/api/v1/crdt/${encodeURIComponent(`cid/${job.cid ?? ''}`)}`)
    expect(byCid.value).toEqual({ name: 'test/multi', tag: '1' })
    const { body: images } = await node.api<Array<{ name: string, tag: string, cid: string }>>('/api/v1/images')
    expect(images).toContainEqual(expect.objectContaining({ name: 'test/multi', tag: '1', cid: job.cid }))
  })

  it('answers DistroMash-style {name, tag, cid} with wait=true', async () => {
    const { status, body } = await node.api<{ name: string, tag: string, cid: string }>('/api/v1/image?wait=true', { method: 'POST', body: JSON.stringify({ name: 'test/multi', tag: '1' }) })
    expect(status).toBe(200)
    expect(body).toMatchObject({ name: 'test/multi', tag: '1' })
    expect(body.cid).toMatch(/^bafy/)
  })

  it('shows an upstream failure on the job instead of swallowing it', async () => {
    const { body } = await node.api<Job>('/api/v1/image', { method: 'POST', body: JSON.stringify({ name: 'test/missing', tag: '9' }) })
    const job = await finished(body.id)
    expect(job.state).toBe('failed')
    expect(job.error).toMatch(/unknown|not found|404/i)
    const waited = await node.api<ErrorBody>('/api/v1/image?wait=true', { method: 'POST', body: JSON.stringify({ name: 'test/missing', tag: '9' }) })
    // the upstream answered: it has no such image (an upstream that fails or cannot be reached is 502)
    expect(waited.status).toBe(404)
    expect(waited.body.error.code).toBe('NOT_FOUND')
  })

  it('rejects bad input with 400 naming the field', async () => {
    const bad = await node.api<ErrorBody>('/api/v1/image', { method: 'POST', body: JSON.stringify({ name: 'UPPER/Case' }) })
    expect(bad.status).toBe(400)
    expect(bad.body.error.field).toBe('name')
    const tag = await node.api<ErrorBody>('/api/v1/image', { method: 'POST', body: JSON.stringify({ name: 'busybox', tag: '-bad tag' }) })
    expect(tag.status).toBe(400)
    expect(tag.body.error.field).toBe('tag')
    const missing = await node.api<ErrorBody>('/api/v1/image', { method: 'POST', body: JSON.stringify({ tag: '1' }) })
    expect(missing.body.error.field).toBe('name')
    expect((await node.api('/api/v1/jobs/not-a-uuid')).status).toBe(400)
    expect((await node.api('/api/v1/jobs/2b0e4d3c-9a51-4b8e-8f7e-1c2d3e4f5a6b')).status).toBe(404)
  })

  it('pins a CID and rejects a malformed one', async () => {
    const { body } = await node.api<Job>('/api/v1/image?wait=true', { method: 'POST', body: JSON.stringify({ name: 'test/multi:1' }) })
    const pinned = await node.api<{ pinned: boolean }>(`/api/v1/pin/${body.cid ?? ''}`, { method: 'POST' })
    expect(pinned.status).toBe(200)
    expect(pinned.body.pinned).toBe(true)
    const bad = await node.api<ErrorBody>('/api/v1/pin/not-a-cid', { method: 'POST' })
    expect(bad.status).toBe(400)
    expect(bad.body.error.field).toBe('cid')
  })

  it('imports from the CLI with `distromash image add`, printing the CID', async () => {
    const { code, stdout } = await runCli(['image', 'add', 'test/multi:1', '--api', node.apiUrl])
    expect(code).toBe(0)
    expect(stdout.trim()).toMatch(/^bafy[a-z2-7]+$/)
    const failed = await runCli(['image', 'add', 'test/missing:9', '--api', node.apiUrl])
    expect(failed.code).toBe(1)
    expect(failed.stderr.trim()).toMatch(/^distromash: import of test\/missing:9 failed: /)
    const down = await runCli(['image', 'add', 'busybox', '--api', 'http://127.0.0.1:9'])
    expect(down.stderr.trim()).toBe('distromash: no node API at http://127.0.0.1:9 (is the node running?)')
  })
})
