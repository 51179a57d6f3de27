import { OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { hostAllowed } from '@distromash/multiplatform2ipfs'
import express, { type Express, type RequestHandler } from 'express'
import swaggerUi from 'swagger-ui-express'
import { crdtRoutes } from './crdt.js'
import { eventRoutes } from './events.js'
import type { ApiDeps } from './deps.js'
import type { ImportJobs } from '../images/jobs.js'
import { ApiError, errorHandler, notFoundHandler } from './errors.js'
import { nodeRoutes } from './node.js'
import { ApiRouter } from './route.js'

export interface AppInit {
  deps: ApiDeps
  apiToken?: string
  version: string
  log: { error: (obj: object, msg: string) => void }
  /** Import jobs, for `job` events */
  jobs?: ImportJobs
  /** Extra resources registered by later packages (images, strategies, ...) */
  routes?: Array<(api: ApiRouter) => void>
  /** Body size limit for JSON requests */
  bodyLimit?: string
  /** The built dashboard (packages/web/dist), served at / */
  webRoot?: string
  /** Host names answered besides IP addresses and localhost */
  allowedHosts?: string[]
}

/** DNS rebinding: a hostile page whose domain resolves to 127.0.0.1 still sends its own name in Host */
function allowedHostsOnly (names: string[]): RequestHandler {
  const allowed = new Set(names)
  return (req, _res, next) => {
    if (hostAllowed(req.headers.host, allowed)) { next(); return }
    next(new ApiError(403, 'HOST_NOT_ALLOWED', `host "${String(req.headers.host ?? '').slice(0, 100)}" is not served here; add it with --allowed-hosts`, 'host'))
  }
}

/** The REST API: /api/v1, /health, /openapi.json and Swagger UI at /swagger. No CORS: same origin only. */
export function createApp (init: AppInit): Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('query parser', 'simple')
  app.use(allowedHostsOnly(init.allowedHosts ?? []))
  app.use(express.json({ limit: init.bodyLimit ?? '1mb', strict: false }))

  const api = registerRoutes(init)
  api.allowOnly()
  app.use(api.router)

  const document = openApiDocument(api, init.version)
  app.get('/openapi.json', (_req, res) => { res.json(document) })
  app.use('/swagger', swaggerUi.serve, swaggerUi.setup(document, { customSiteTitle: 'DistroMash API' }))

  serveDashboard(app, init.webRoot)
  app.use(notFoundHandler)
  app.use(errorHandler(init.log))
  return app
}

/** Every route of the API on one router: the node's own, the store's, events, then the resources given */
function registerRoutes (init: Pick<AppInit, 'deps' | 'apiToken' | 'jobs' | 'routes'>): ApiRouter {
  const api = new ApiRouter(init.apiToken)
  nodeRoutes(api, init.deps)
  crdtRoutes(api, init.deps)
  eventRoutes(api, init.deps, init.jobs)
  for (const register of init.routes ?? []) register(api)
  return api
}

export type OpenApiDocument = ReturnType<OpenApiGeneratorV3['generateDocument']>

function openApiDocument (api: ApiRouter, version: string): OpenApiDocument {
  return new OpenApiGeneratorV3(api.registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: { title: 'DistroMash API', version, description: 'Peer-to-peer distribution of Docker/OCI images over IPFS' }
  })
}

/**
 * The document createApp serves at /openapi.json for these routes, built without serving
 * anything: route registration only describes handlers, it never calls them or their deps
 */
export function describeApi (init: Pick<AppInit, 'deps' | 'apiToken' | 'jobs' | 'routes' | 'version'>): OpenApiDocument {
  return openApiDocument(registerRoutes(init), init.version)
}

/**
 * The dashboard is a single-page app: its files, and index.html for any other GET outside the
 * API, so client-side routes survive a reload. Same origin as the API, so no CORS is needed.
 */
function serveDashboard (app: Express, webRoot?: string): void {
  if (webRoot == null || !existsSync(join(webRoot, 'index.html'))) {
    app.get('/', (_req, res) => { res.type('text/plain').send('DistroMash node. The dashboard is not built (run `make build`); the API is at /api/v1, Swagger UI at /swagger.\n') })
    return
  }
  app.use(express.static(webRoot, { index: 'index.html', maxAge: '1h', setHeaders: (res, path) => { if (path.endsWith('index.html')) res.setHeader('cache-control', 'no-cache') } }))
  app.get(/^\/(?!api\/|swagger|openapi\.json|health).*/, (_req, res) => { res.sendFile(join(webRoot, 'index.html')) })
}
