import type { IncomingMessage, ServerResponse } from 'node:http'
import { route, type Route } from './router.js'

/** One answered registry request, as metrics see it: no name, digest or client in it */
export interface RegistryRequest {
  /** GET, HEAD, PUT, POST, PATCH or DELETE; anything else is OTHER */
  method: string
  /** The API resource asked for; unknown for paths outside the distribution API */
  route: Route['kind'] | 'unknown'
  status: number
  /** Response body bytes written to the client (headers not counted) */
  bytesSent: number
  seconds: number
}

export type RequestObserver = (request: RegistryRequest) => void

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'])

/**
 * Tells the observer of the request once its response has ended (sent, or the client went away),
 * counting the body bytes as they are written: a blob streamed in pieces counts what left, not
 * what its Content-Length promised.
 */
export function observeRequest (req: IncomingMessage, res: ServerResponse, rawPath: string, observer: RequestObserver): void {
  const started = performance.now()
  let bytes = 0
  const count = (chunk: unknown, encoding?: unknown): void => {
    if (typeof chunk === 'string') bytes += Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8')
    else if (chunk instanceof Uint8Array) bytes += chunk.byteLength
  }
  const write = res.write.bind(res) as (...args: unknown[]) => boolean
  res.write = ((chunk: unknown, ...rest: unknown[]) => { count(chunk, rest[0]); return write(chunk, ...rest) }) as typeof res.write
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse
  res.end = ((chunk?: unknown, ...rest: unknown[]) => { count(chunk, rest[0]); return end(chunk, ...rest) }) as typeof res.end
  res.once('close', () => {
    const method = req.method ?? ''
    observer({
      method: METHODS.has(method) ? method : 'OTHER',
      route: route(rawPath)?.kind ?? 'unknown',
      status: res.statusCode,
      bytesSent: bytes,
      seconds: (performance.now() - started) / 1000
    })
  })
}
