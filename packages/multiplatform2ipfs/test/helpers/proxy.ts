import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/**
 * A loopback HTTP peer in front of a real registry: it can demand bearer or basic auth (issuing
 * tokens itself, as Docker's token service would), redirect blob GETs elsewhere (as registries
 * redirect to object storage) and count requests. A protocol peer, not a mock: bytes come from
 * the real registry.
 */
export interface ProxyOptions {
  upstream: string
  auth?: 'bearer' | 'basic'
  /** For basic auth, or for the token endpoint when bearer tokens need credentials. */
  credentials?: { username: string, password: string }
  /** Answer blob GETs with 307 to this origin (another proxy). */
  redirectBlobsTo?: string
  tokenTtlSeconds?: number
}

export interface RunningProxy {
  url: string
  host: string
  requests: string[]
  tokenRequests: URLSearchParams[]
  /** Authorization headers seen on requests (undefined when absent). */
  authorizations: Array<string | undefined>
  stop: () => Promise<void>
}

export async function startProxy (options: ProxyOptions): Promise<RunningProxy> {
  const issued = new Set<string>()
  const state = { requests: [] as string[], tokenRequests: [] as URLSearchParams[], authorizations: [] as Array<string | undefined> }
  let url = ''
  const basic = options.credentials === undefined ? undefined : `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString('base64')}`

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/'
    state.requests.push(`${req.method ?? 'GET'} ${path}`)
    state.authorizations.push(req.headers.authorization)
    if (path.startsWith('/token')) {
      const params = new URL(path, url).searchParams
      state.tokenRequests.push(params)
      if (basic !== undefined && req.headers.authorization !== basic) {
        res.writeHead(401).end()
        return
      }
      const token = `t${issued.size}-${params.get('scope') ?? ''}`
      issued.add(token)
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: options.tokenTtlSeconds ?? 300 }))
      return
    }
    if (!authorized(req.headers.authorization)) {
      const scope = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(path)?.[1]
      const challenge = options.auth === 'basic'
        ? 'Basic realm="test"'
        : `Bearer realm="${url}/token",service="test-registry"${scope === undefined ? '' : `,scope="repository:${scope}:pull"`}`
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }))
      return
    }
    if (options.redirectBlobsTo !== undefined && /\/blobs\/sha256:/.test(path)) {
      res.writeHead(307, { location: `${options.redirectBlobsTo}${path}` }).end()
      return
    }
    const upstream = await fetch(`${options.upstream}${path}`, { method: req.method, headers: { accept: req.headers.accept ?? '*/*' } })
    const headers: Record<string, string> = {}
    for (const name of ['content-type', 'content-length', 'docker-content-digest']) {
      const value = upstream.headers.get(name)
      if (value !== null) headers[name] = value
    }
    res.writeHead(upstream.status, headers)
    if (upstream.body === null) {
      res.end()
      return
    }
    await pipeline(Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream), res)
  }

  const authorized = (header: string | undefined): boolean => {
    if (options.auth === undefined) return true
    if (options.auth === 'basic') return header === basic
    return header?.startsWith('Bearer ') === true && issued.has(header.slice('Bearer '.length))
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => { res.destroy(err as Error) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  url = `http://127.0.0.1:${port}`
  return {
    url,
    host: `127.0.0.1:${port}`,
    ...state,
    stop: async () => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => { resolve() }) })
  }
}
