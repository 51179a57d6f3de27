export { createNodeMetrics, type NodeMetrics } from './metrics.js'
export { cachedDiskUsage } from './disk.js'
export type { ImportEvent, MetricsSources } from './sources.js'
export type { WorkObservers } from './work-series.js'
