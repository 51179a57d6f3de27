import { once } from 'node:events'
import { errorBody, ociError } from './errors.js'
import type { RegistryLogger } from './components.js'
import type { IncomingMessage, ServerResponse } from 'node:http'

export const API_VERSION_HEADER = { 'docker-distribution-api-version': 'registry/2.0' }

/** One request: its parsed URL and a signal that aborts when the client goes away. */
export interface RequestContext {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  /** The path as sent, not normalised: `..` must reach name validation, not be resolved away. */
  rawPath: string
  signal: AbortSignal
}

export function requestContext (req: IncomingMessage, res: ServerResponse): RequestContext {
  const controller = new AbortController()
  // 'close' before the response finished means the client disconnected: stop block fetches
  res.once('close', () => { if (!res.writableFinished) controller.abort(new Error('client disconnected')) })
  const rawPath = (req.url ?? '/').split('?')[0] ?? '/'
  let url: URL
  try {
    url = new URL(req.url ?? '/', 'http://registry.invalid')
  } catch {
    url = new URL('http://registry.invalid/') // unparseable: routing on rawPath will refuse it
  }
  return { req, res, url, rawPath, signal: controller.signal }
}

export function sendJson (ctx: RequestContext, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body))
  ctx.res.writeHead(status, { ...API_VERSION_HEADER, 'content-type': 'application/json', 'content-length': String(bytes.byteLength), ...headers })
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : bytes)
}

export function sendEmpty (ctx: RequestContext, status: number, headers: Record<string, string> = {}): void {
  ctx.res.writeHead(status, { ...API_VERSION_HEADER, 'content-length': '0', ...headers })
  ctx.res.end()
}

/** Maps any error to an OCI error response; mid-stream failures can only end the connection. */
export function sendError (ctx: RequestContext, err: unknown, log?: RegistryLogger): void {
  const { status, code } = ociError(err)
  // a client that went away is no failure of ours (an engine cancelling a pull, a closed tunnel)
  if (ctx.signal.aborted) log?.debug({ url: ctx.req.url, method: ctx.req.method }, 'registry client disconnected')
  else if (status >= 500) log?.error({ err, url: ctx.req.url, method: ctx.req.method }, 'registry request failed')
  else log?.debug({ code, url: ctx.req.url, method: ctx.req.method, message: (err as Error).message }, 'registry client error')
  if (ctx.res.headersSent || ctx.signal.aborted) {
    ctx.res.destroy()
    return
  }
  // an unread request body (a refused upload) must not be parsed as the next request
  const close: Record<string, string> = ctx.req.complete ? {} : { connection: 'close' }
  sendJson(ctx, status, errorBody(err), close)
}

/** Streams `source` to the response with backpressure; errors destroy the socket (headers are gone). */
export async function sendStream (ctx: RequestContext, source: AsyncIterable<Uint8Array>): Promise<void> {
  const { res } = ctx
  for await (const chunk of source) {
    // wait for the socket to take what it has before reading more blocks: backpressure
    if (!res.write(chunk)) await once(res, 'drain', { signal: ctx.signal })
  }
  res.end()
}

/** Reads a small request body whole, refusing more than `limit` bytes. */
export async function readBody (req: IncomingMessage, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > limit) throw tooLarge()
  const parts: Buffer[] = []
  let total = 0
  for await (const part of req as AsyncIterable<Buffer>) {
    total += part.byteLength
    if (total > limit) throw tooLarge()
    parts.push(part)
  }
  return Buffer.concat(parts)
}
