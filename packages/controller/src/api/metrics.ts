import { z } from 'zod'
import type { ApiRouter } from './route.js'

/** The part of the node's metrics the route needs */
export interface MetricsExposition {
  render: () => Promise<string>
  contentType: string
}

/**
 * GET /metrics: Prometheus text format, on the API's address, outside /api/v1 like /health.
 * Read-only, so no token, as every GET.
 */
export function metricsRoutes (metrics: MetricsExposition): (api: ApiRouter) => void {
  return api => {
    api.add({
      method: 'get', path: '/metrics', tag: 'node', summary: 'Prometheus metrics: process and Node.js defaults and distromash_* series (README: Metrics)',
      responses: { 200: { description: 'Prometheus text exposition format 0.0.4', schema: z.string(), mediaType: 'text/plain' } },
      handler: async (_input, _req, res) => {
        const text = await metrics.render()
        res.status(200).type(metrics.contentType).send(text)
      }
    })
  }
}
