import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryBlockstore } from 'blockstore-core/memory'
import type { Catalog } from '../../src/catalog.js'
import { memoryCatalog } from '../../src/catalog-memory.js'
import { memoryDigestIndex, type DigestIndex } from '../../src/layout/digest-index.js'
import { createRegistry, type Registry } from '../../src/registry/server.js'
import type { RegistryComponents, RegistryInit } from '../../src/registry/components.js'
import type { CID } from 'multiformats/cid'

/** Our registry over in-memory components, listening on a loopback port. */
export interface RunningOciRegistry {
  url: string
  host: string
  registry: Registry
  blockstore: RegistryComponents['blockstore']
  digestIndex: DigestIndex
  catalog: Catalog
  pinned: CID[]
  uploadsDir: string
  stop: () => Promise<void>
}

export async function startOciRegistry (components: Partial<RegistryComponents> = {}, init: RegistryInit = {}): Promise<RunningOciRegistry> {
  const uploadsDir = await mkdtemp(join(tmpdir(), 'mp2ipfs-uploads-'))
  const pinned: CID[] = []
  const full: RegistryComponents = {
    blockstore: components.blockstore ?? new MemoryBlockstore(),
    digestIndex: components.digestIndex ?? memoryDigestIndex(),
    catalog: components.catalog ?? memoryCatalog(),
    pins: components.pins ?? { add: async cid => { pinned.push(cid) } },
    uploadsDir,
    ...(components.writer !== undefined ? { writer: components.writer } : {}),
    ...(components.admit !== undefined ? { admit: components.admit } : {}),
    ...(components.pace !== undefined ? { pace: components.pace } : {}),
    ...(components.log !== undefined ? { log: components.log } : {})
  }
  const registry = createRegistry(full, init)
  const port = await registry.listen(0, '127.0.0.1')
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    registry,
    blockstore: full.blockstore,
    digestIndex: full.digestIndex,
    catalog: full.catalog,
    pinned,
    uploadsDir,
    stop: async () => {
      await registry.close()
      await rm(uploadsDir, { recursive: true, force: true })
    }
  }
}

export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** A request with the path sent exactly as given (fetch would normalise `..` away). */
export async function rawRequest (url: string, method: string, path: string, options: { headers?: Record<string, string>, body?: Uint8Array } = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers: options.headers, agent: false }, res => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

export async function ociCode (res: Response): Promise<string | undefined> {
  const body = await res.json() as { errors?: Array<{ code: string }> }
  return body.errors?.[0]?.code
}
