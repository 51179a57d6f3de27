import type { Records } from '../records/records.js'
import type { StrategyService } from '../strategies/service.js'
import { imageRoutes, type ImagesDeps } from './images.js'
import { metricsRoutes, type MetricsExposition } from './metrics.js'
import { replicationRoutes } from './replication.js'
import type { ApiRouter } from './route.js'
import { strategyRoutes } from './strategies.js'

/** What the resource routes serve from */
export interface ResourceServices {
  images: ImagesDeps
  strategies: StrategyService
  records: Records
  livePeers: () => Promise<string[]>
  metrics: MetricsExposition
}

/**
 * The resources a node serves beside its own routes (identity, peers, health, store, events).
 * One list, so the API document generated for the dashboard (document.ts) has every route the
 * node serves.
 */
export function resourceRoutes (s: ResourceServices): Array<(api: ApiRouter) => void> {
  return [
    imageRoutes(s.images),
    strategyRoutes(s.strategies),
    replicationRoutes(s.records, s.livePeers),
    metricsRoutes(s.metrics)
  ]
}
