import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import { meshSeries } from './mesh-series.js'
import type { MetricsSources } from './sources.js'
import { workSeries, type WorkObservers } from './work-series.js'

export interface NodeMetrics extends WorkObservers {
  /** The Prometheus text exposition of every series */
  render: () => Promise<string>
  contentType: string
  /** The names of every series family exported (process and Node.js defaults included) */
  names: () => string[]
}

/**
 * The node's Prometheus metrics, on a registry of its own (no prom-client global, so several
 * nodes in one process each keep theirs): process and Node.js defaults, `distromash_*` series
 * read from the sources at scrape time, and observers the composition root hands to the
 * registry, the reconciler and the import jobs. Label values are always from small fixed sets:
 * never a peer ID, CID, image name or digest.
 */
export function createNodeMetrics (sources: MetricsSources): NodeMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const info = new Gauge({ name: 'distromash_build_info', help: 'Always 1; the version of this node in a label', labelNames: ['version'], registers: [registry] })
  info.set({ version: sources.version }, 1)
  meshSeries(registry, sources)
  const observers = workSeries(registry, sources)
  return {
    ...observers,
    render: async () => await registry.metrics(),
    contentType: registry.contentType,
    names: () => registry.getMetricsAsArray().map(m => m.name)
  }
}
