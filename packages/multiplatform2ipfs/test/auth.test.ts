import { MemoryBlockstore } from 'blockstore-core/memory'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnauthorizedError } from '../src/errors.js'
import { createImporter, type Importer } from '../src/importer.js'
import { memoryDigestIndex } from '../src/layout/digest-index.js'
import { createRegistryClient, type RegistryClientInit } from '../src/upstream/client.js'
import { pushMultiPlatformImage, type PushedImage } from './helpers/images.js'
import { startProxy, type RunningProxy } from './helpers/proxy.js'
import { startRegistry, type RunningRegistry } from './helpers/registry.js'

let registry: RunningRegistry
let image: PushedImage
const proxies: RunningProxy[] = []
const alice = { username: 'alice', password: 's3cret' }

beforeAll(async () => {
  registry = await startRegistry()
  image = await pushMultiPlatformImage(registry.url, 'team/app', 'v1', { bigLayerBytes: 600_000 })
})

afterAll(async () => {
  for (const proxy of proxies) await proxy.stop()
  await registry?.stop()
})

async function proxy (options: Omit<Parameters<typeof startProxy>[0], 'upstream'>): Promise<RunningProxy> {
  const started = await startProxy({ upstream: registry.url, ...options })
  proxies.push(started)
  return started
}

function importer (init: RegistryClientInit): Importer {
  return createImporter({ client: createRegistryClient(init), blockstore: new MemoryBlockstore(), digestIndex: memoryDigestIndex() })
}

describe('registry authentication', () => {
  it('follows the anonymous bearer flow and caches the token per scope', async () => {
    const p = await proxy({ auth: 'bearer' })
    const client = createRegistryClient({ upstream: p.url })
    await client.ping('docker.io')
    const result = await importer({ upstream: p.url }).importImage('team/app:v1')
    expect(result.digest).toBe(image.digest)
    const scopes = p.tokenRequests.map(params => `${params.get('service')} ${params.get('scope')}`)
    expect(scopes).toEqual(['test-registry null', 'test-registry repository:team/app:pull'])
    const pulls = p.requests.filter(r => r.includes('/team/app/')).length
    expect(pulls).toBeGreaterThan(8)
    expect(p.authorizations.filter(a => a === undefined).length).toBe(2 + 2) // one 401 per scope, plus the two token requests
  })

  it('sends credentials to the token endpoint with basic auth', async () => {
    const p = await proxy({ auth: 'bearer', credentials: alice })
    const result = await importer({ upstream: p.url, credentials: alice }).importImage('team/app:v1', { platforms: ['linux/arm64'] })
    expect(result.digest).toBe(image.digest)
    expect(p.tokenRequests).toHaveLength(1)
    await expect(importer({ upstream: p.url, credentials: { username: 'alice', password: 'wrong' } }).importImage('team/app:v1')).rejects.toThrow(UnauthorizedError)
    await expect(importer({ upstream: p.url }).importImage('team/app:v1')).rejects.toThrow(UnauthorizedError)
  })

  it('uses plain basic auth, credentials looked up per registry', async () => {
    const p = await proxy({ auth: 'basic', credentials: alice })
    const lookups: string[] = []
    const credentials = (registry: string): typeof alice | undefined => { lookups.push(registry); return registry === p.host ? alice : undefined }
    const result = await importer({ credentials }).importImage(`${p.host}/team/app:v1`, { platforms: ['linux/amd64'] })
    expect(result.digest).toBe(image.digest)
    expect(lookups).toEqual([p.host])
    await expect(importer({ credentials: { ...alice, password: 'no' } }).importImage(`${p.host}/team/app:v1`)).rejects.toThrow(/refused our credentials/)
    await expect(importer({}).importImage(`${p.host}/team/app:v1`)).rejects.toThrow(UnauthorizedError)
  })

  it('follows blob redirects to another origin without leaking the Authorization header', async () => {
    const storage = await proxy({})
    const p = await proxy({ auth: 'bearer', redirectBlobsTo: storage.url })
    const result = await importer({ upstream: p.url }).importImage('team/app:v1')
    expect(result.digest).toBe(image.digest)
    expect(storage.requests.filter(r => r.includes('/blobs/')).length).toBe(7)
    expect(storage.authorizations.every(a => a === undefined)).toBe(true)
  })

  it('refuses a token realm over plain http to a remote host', async () => {
    const client = createRegistryClient({ upstream: 'http://127.0.0.1:1', requestTimeoutMs: 2000 })
    await expect(client.ping('docker.io')).rejects.toThrow()
    // the realm check itself is unit-level: an http realm on a non-loopback host is refused before any request
    const { Authenticator } = await import('../src/upstream/auth.js')
    const auth = new Authenticator({ timeoutMs: 1000 })
    await expect(auth.respond(new URL('http://127.0.0.1:1'), 'x', 'repository:a:pull', { scheme: 'bearer', params: { realm: 'http://auth.example.com/token' } }, {}))
      .rejects.toThrow(/refusing plain HTTP/)
  })
})
