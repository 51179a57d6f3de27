import type { Request, Response } from 'express'
import { z } from 'zod'
import type { ApiRouter } from './route.js'
import type { ApiDeps } from './deps.js'

const KEEPALIVE_MS = 15_000

/**
 * Server-sent events: every change of the replicated store, as `event: store`, so the dashboard
 * and tools follow the mesh live instead of polling. Later resources add their own event types.
 */
export function eventRoutes (api: ApiRouter, deps: ApiDeps): void {
  api.add({
    method: 'get', path: '/api/v1/events', tag: 'events', summary: 'Live changes as server-sent events (text/event-stream)',
    responses: { 200: { description: 'An endless stream; `event: store` carries {key, value, origin}; value is absent on delete', schema: z.string() } },
    handler: async (_input, req, res) => { stream(req, res, deps) }
  })
}

function stream (req: Request, res: Response, deps: ApiDeps): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no'
  })
  res.write(': connected\n\n')
  const send = (event: string, data: unknown): void => { res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) }
  const unsubscribe = deps.store.subscribe(change => { send('store', change) })
  const keepalive = setInterval(() => { res.write(': keepalive\n\n') }, KEEPALIVE_MS)
  req.on('close', () => {
    clearInterval(keepalive)
    unsubscribe()
  })
}
