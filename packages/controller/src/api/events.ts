import type { Request, Response } from 'express'
import { z } from 'zod'
import type { ImportJobs } from '../images/jobs.js'
// route.js adds zod's .openapi(), used below at load: a type-only import would leave it to import order
import './route.js'
import type { ApiRouter } from './route.js'
import type { ApiDeps } from './deps.js'
import { ApiError } from './errors.js'
import { NodeWatch } from './node-watch.js'

const KEEPALIVE_MS = 15_000
/** Event streams open at once; one more is refused with 503 and Retry-After */
export const MAX_EVENT_STREAMS = 64
/** A client that leaves this much unread is dropped: it would otherwise hold memory without bound */
export const MAX_UNREAD_EVENT_BYTES = 256 * 1024

/** Each event's data, as components of the API document (the stream itself is text/event-stream) */
const gone = z.literal(true).optional()
const EVENT_SCHEMAS = {
  StoreEvent: z.object({ key: z.string(), deleted: gone, origin: z.enum(['local', 'remote']), author: z.string().openapi({ description: 'the peer that signed the change' }) }),
  StrategyEvent: z.object({ key: z.string(), deleted: gone }),
  ImageEvent: z.object({ nametag: z.string(), cid: z.string().optional(), deleted: gone }),
  PeersEvent: z.object({ count: z.number().int().openapi({ description: 'peers listed besides this node' }), live: z.number().int().openapi({ description: 'how many of them are live' }) })
}
type EventData<K extends keyof typeof EVENT_SCHEMAS> = z.output<typeof EVENT_SCHEMAS[K]>

/**
 * Server-sent events, so the dashboard and tools follow the mesh live instead of polling:
 * `store` for every change of the replicated store, and typed views of it — `replication`
 * (a status cell), `strategy` (a strategy or its assignment changed), `image` (a name:tag was
 * recorded or removed) — plus `job` (imports), `peers` (the peer list changed) and `identity`
 * (this node's identity changed). Clients never parse store keys. Events are small
 * (a `store` event names the key, not its value: a client fetches what it wants), streams are
 * capped, and a client that stops reading is dropped.
 */
export function eventRoutes (api: ApiRouter, deps: ApiDeps, jobs?: ImportJobs): void {
  let open = 0
  const node = new NodeWatch(deps)
  for (const [name, schema] of Object.entries(EVENT_SCHEMAS)) api.registry.register(name, schema)
  api.add({
    method: 'get', path: '/api/v1/events', tag: 'events', summary: 'Live changes as server-sent events (text/event-stream)',
    responses: {
      200: {
        description: 'An endless stream of events (docs/api.md), each with JSON data: `store` (StoreEvent), `replication` (ReplicationCell, or {peerId, image, deleted}), `strategy` (StrategyEvent), `image` (ImageEvent), `job` (ImportJob), `peers` (PeersEvent), `identity` (Identity)',
        schema: z.string(),
        mediaType: 'text/event-stream'
      },
      503: { description: `Already ${MAX_EVENT_STREAMS} event streams open` }
    },
    handler: async (_input, req, res) => {
      if (open >= MAX_EVENT_STREAMS) {
        // and the connection closed: a refused client must not keep a socket (a file descriptor) either
        res.set({ 'Retry-After': '5', Connection: 'close' })
        throw new ApiError(503, 'TOO_MANY_STREAMS', `${MAX_EVENT_STREAMS} event streams are open already`)
      }
      open++
      res.once('close', () => { open-- })
      stream(req, res, deps, node, jobs)
    }
  })
}

function stream (req: Request, res: Response, deps: ApiDeps, node: NodeWatch, jobs?: ImportJobs): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no'
  })
  res.write(': connected\n\n')
  const write = (text: string): void => {
    if (res.writableLength > MAX_UNREAD_EVENT_BYTES) { res.destroy(); return }
    res.write(text)
  }
  const send = (event: string, data: unknown): void => { write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) }
  const offStore = deps.records.watch(change => {
    send('store', { key: change.storeKey, ...(change.value === undefined ? { deleted: true } : {}), origin: change.origin, author: change.author } satisfies EventData<'StoreEvent'>)
    if (change.kind === 'status') send('replication', change.value != null ? { ...change.value, peerId: change.peerId } : { peerId: change.peerId, image: change.image, deleted: true })
    if (change.kind === 'strategy' || change.kind === 'assignment') send('strategy', { key: change.key, ...(change.value == null && change.kind === 'strategy' ? { deleted: true } : {}) } satisfies EventData<'StrategyEvent'>)
    if (change.kind === 'image') send('image', { nametag: change.nametag, ...(change.value == null ? { deleted: true } : { cid: change.value.cid }) } satisfies EventData<'ImageEvent'>)
  })
  const offJobs = jobs?.subscribe(job => { send('job', job) })
  const offNode = node.subscribe(change => {
    if (change.kind === 'peers') send('peers', { count: change.count, live: change.live } satisfies EventData<'PeersEvent'>)
    else send('identity', change.identity)
  })
  const keepalive = setInterval(() => { write(': keepalive\n\n') }, KEEPALIVE_MS)
  req.on('close', () => {
    clearInterval(keepalive)
    offStore()
    offJobs?.()
    offNode()
  })
}
