import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryCatalog } from '../src/catalog-memory.js'
import { memoryDigestIndex } from '../src/layout/digest-index.js'
import type { RegistryRequest } from '../src/registry/observe.js'
import { createRegistry, type Registry } from '../src/registry/server.js'

describe('registry request observer', () => {
  const seen: RegistryRequest[] = []
  let dir: string
  let registry: Registry
  let base: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dm-observe-'))
    registry = createRegistry({ blockstore: new MemoryBlockstore(), digestIndex: memoryDigestIndex(), catalog: memoryCatalog(), uploadsDir: dir }, { onRequest: r => { seen.push(r) } })
    base = `http://127.0.0.1:${await registry.listen(0)}`
  })

  afterAll(async () => {
    await registry.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** The observer runs once the response has closed, just after the client has read it */
  async function observed (n: number): Promise<RegistryRequest[]> {
    for (let i = 0; i < 50 && seen.length < n; i++) await new Promise(resolve => setTimeout(resolve, 20))
    return seen.splice(0)
  }

  it('reports method, resource, status and the body bytes sent, never the name or digest', async () => {
    const ok = await fetch(`${base}/v2/`)
    const body = await ok.arrayBuffer()
    const missing = await fetch(`${base}/v2/some/name/manifests/latest`)
    const error = await missing.arrayBuffer()
    await (await fetch(`${base}/v2/some/name/blobs/sha256:${'a'.repeat(64)}`, { method: 'HEAD' })).arrayBuffer()
    await (await fetch(`${base}/nothing/here`, { method: 'OPTIONS' })).arrayBuffer()
    const [base2, manifest, head, other] = await observed(4)
    expect(base2).toMatchObject({ method: 'GET', route: 'base', status: 200, bytesSent: body.byteLength })
    expect(manifest).toMatchObject({ method: 'GET', route: 'manifest', status: 404, bytesSent: error.byteLength })
    expect(error.byteLength).toBeGreaterThan(0)
    expect(head).toMatchObject({ method: 'HEAD', route: 'blob', status: 404, bytesSent: 0 })
    expect(other).toMatchObject({ method: 'OTHER', route: 'unknown' })
    expect(other?.status).toBeGreaterThanOrEqual(400)
    for (const r of [base2, manifest, head, other]) expect(r?.seconds).toBeGreaterThanOrEqual(0)
  })
})
