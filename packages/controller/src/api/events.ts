import type { Request, Response } from 'express'
import { z } from 'zod'
import type { ImportJobs } from '../images/jobs.js'
import type { ApiRouter } from './route.js'
import type { ApiDeps } from './deps.js'

const KEEPALIVE_MS = 15_000

/**
 * Server-sent events, so the dashboard and tools follow the mesh live instead of polling:
 * `store` for every change of the replicated store, and typed views of it — `replication`
 * (a status cell), `strategy` (a strategy or its assignment changed), `image` (a name:tag was
 * recorded or removed) — plus `job` (imports). Clients never parse store keys.
 */
export function eventRoutes (api: ApiRouter, deps: ApiDeps, jobs?: ImportJobs): void {
  api.add({
    method: 'get', path: '/api/v1/events', tag: 'events', summary: 'Live changes as server-sent events (text/event-stream)',
    responses: { 200: { description: 'An endless stream of `store`, `replication`, `strategy`, `image` and `job` events (docs/api.md)', schema: z.string() } },
    handler: async (_input, req, res) => { stream(req, res, deps, jobs) }
  })
}

function stream (req: Request, res: Response, deps: ApiDeps, jobs?: ImportJobs): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no'
  })
  res.write(': connected\n\n')
  const send = (event: string, data: unknown): void => { res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) }
  const offStore = deps.records.watch(change => {
    send('store', { key: change.storeKey, value: change.value, origin: change.origin, author: change.author })
    if (change.kind === 'status') send('replication', change.value != null ? { ...change.value, peerId: change.peerId } : { peerId: change.peerId, image: change.image, deleted: true })
    if (change.kind === 'strategy' || change.kind === 'assignment') send('strategy', { key: change.key, ...(change.value == null && change.kind === 'strategy' ? { deleted: true } : {}) })
    if (change.kind === 'image') send('image', { nametag: change.nametag, ...(change.value == null ? { deleted: true } : { cid: change.value.cid }) })
  })
  const offJobs = jobs?.subscribe(job => { send('job', job) })
  const keepalive = setInterval(() => { res.write(': keepalive\n\n') }, KEEPALIVE_MS)
  req.on('close', () => {
    clearInterval(keepalive)
    offStore()
    offJobs?.()
  })
}
