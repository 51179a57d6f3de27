import { VERSION } from '../version.js'
import { describeApi, type OpenApiDocument } from './app.js'
import { resourceRoutes } from './resources.js'

/** Something a handler would use, reached while the API is only being described */
export class NotServedError extends Error {
  override name = 'NotServedError'
}

/**
 * A stand-in for a dependency of the handlers: registering a route only describes it, so nothing
 * may be read from its dependencies; if something is, this says what rather than answering wrongly
 */
function notServed<T> (what: string): T {
  return new Proxy({}, {
    get: (_target, prop) => { throw new NotServedError(`${what}.${String(prop)} was used while only describing the API`) }
  }) as T
}

/**
 * The OpenAPI document a node (without an API token) serves at /openapi.json, built from the
 * same route registrations with no node behind them: the dashboard's types are generated from it
 * (packages/web: npm run gen:api) without starting libp2p, IPFS or a server.
 */
export function nodeApiDocument (): OpenApiDocument {
  return describeApi({
    deps: notServed('ApiDeps'),
    version: VERSION,
    routes: resourceRoutes({
      images: notServed('ImagesDeps'),
      strategies: notServed('StrategyService'),
      records: notServed('Records'),
      livePeers: notServed('livePeers'),
      metrics: notServed('MetricsExposition')
    })
  })
}
