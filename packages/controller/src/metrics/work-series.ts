import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { RegistryRequest } from '@distromash/multiplatform2ipfs'
import type { ReplicationObserver, ReplicationStage } from '../reconciler/reconciler.js'
import { REPLICATION_STATES } from '../records/schemas.js'
import { snapshotCounter } from './snapshot-counter.js'
import type { ImportEvent, MetricsSources } from './sources.js'

/** Seconds: a manifest in milliseconds up to a large image over a slow link */
const DURATION_BUCKETS = [0.05, 0.25, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800]
const REQUEST_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120]

/** Failure kinds counted as they happen here; the others are read from the mesh node's counters */
type CountedFailure = 'import' | `replication_${ReplicationStage}`

/** What happens on this node as it happens: the observers the composition root hands to each part */
export interface WorkObservers {
  registryRequest: (request: RegistryRequest) => void
  replication: ReplicationObserver
  importFinished: (job: ImportEvent) => void
}

export function workSeries (registry: Registry, sources: MetricsSources): WorkObservers {
  const failures = new Map<CountedFailure, number>()
  const fail = (kind: CountedFailure): void => { failures.set(kind, (failures.get(kind) ?? 0) + 1) }
  snapshotCounter(registry, 'distromash_failures_total', 'Failures by kind: import, replication_fetch, replication_pin, replication_load (stages of replicating an image here), block_request (a peer that did not deliver), provide (a DHT provider record not announced)', ['kind'], () => {
    const { providers } = sources.stats()
    const counted = (['import', 'replication_fetch', 'replication_pin', 'replication_load'] as const).map(kind => [{ kind }, failures.get(kind) ?? 0] as [{ kind: string }, number])
    return [...counted, [{ kind: 'block_request' }, sources.traffic().blockExchange.failedRequests], [{ kind: 'provide' }, providers.failed]]
  })
  stateSeries(registry, sources)
  return {
    registryRequest: registrySeries(registry),
    replication: replicationSeries(registry, fail),
    importFinished: importSeries(registry, fail)
  }
}

function registrySeries (registry: Registry): (request: RegistryRequest) => void {
  const requests = new Counter({ name: 'distromash_registry_requests_total', help: 'OCI registry requests answered, by method, API resource (base, manifest, blob, upload, tags, referrers, unknown) and HTTP status', labelNames: ['method', 'route', 'status'], registers: [registry] })
  const sent = new Counter({ name: 'distromash_registry_sent_bytes_total', help: 'Response body bytes the OCI registry sent, by API resource', labelNames: ['route'], registers: [registry] })
  const duration = new Histogram({ name: 'distromash_registry_request_duration_seconds', help: 'Time from request to the end of the response (a blob: until its last byte left), by API resource', labelNames: ['route'], buckets: REQUEST_BUCKETS, registers: [registry] })
  return r => {
    requests.inc({ method: r.method, route: r.route, status: String(r.status) })
    sent.inc({ route: r.route }, r.bytesSent)
    duration.observe({ route: r.route }, r.seconds)
  }
}

function replicationSeries (registry: Registry, fail: (kind: CountedFailure) => void): ReplicationObserver {
  const duration = new Histogram({ name: 'distromash_replication_duration_seconds', help: 'Replication stages of images on this node: fetch (blocks from peers), pin, load (the engine pulling from this node\'s registry), by outcome', labelNames: ['stage', 'outcome'], buckets: DURATION_BUCKETS, registers: [registry] })
  for (const stage of ['fetch', 'pin', 'load']) for (const outcome of ['ok', 'failed']) duration.zero({ stage, outcome })
  return {
    stage (stage, outcome, seconds) {
      duration.observe({ stage, outcome }, seconds)
      if (outcome === 'failed') fail(`replication_${stage}`)
    }
  }
}

function importSeries (registry: Registry, fail: (kind: CountedFailure) => void): (job: ImportEvent) => void {
  const duration = new Histogram({ name: 'distromash_import_duration_seconds', help: 'Imports from the upstream registry into IPFS run on this node, by outcome', labelNames: ['outcome'], buckets: DURATION_BUCKETS, registers: [registry] })
  const bytes = new Counter({ name: 'distromash_import_bytes_total', help: 'Image bytes imported from the upstream registry (finished imports)', registers: [registry] })
  for (const outcome of ['ok', 'failed']) duration.zero({ outcome })
  return job => {
    if (job.state === 'running' || job.finishedAt == null) return
    duration.observe({ outcome: job.state === 'done' ? 'ok' : 'failed' }, Math.max(0, Date.parse(job.finishedAt) - Date.parse(job.createdAt)) / 1000)
    if (job.state === 'done') bytes.inc(job.bytesTotal)
    else fail('import')
  }
}

/** Where replication stands on this node, and its disk */
function stateSeries (registry: Registry, sources: MetricsSources): void {
  new Gauge({
    name: 'distromash_images',
    help: `Images by this node's replication state (${REPLICATION_STATES.join(', ')})`,
    labelNames: ['state'],
    registers: [registry],
    async collect () {
      const states = await sources.replicationStates()
      for (const state of REPLICATION_STATES) this.set({ state }, states.filter(s => s === state).length)
    }
  })
  const gauge = (name: string, help: string, read: () => number | Promise<number>): void => {
    new Gauge({ name, help, registers: [registry], async collect () { this.set(await read()) } })
  }
  gauge('distromash_reconcile_queue_length', 'Images assigned to this node that are not yet in their final state (loaded, or pinned without Docker)', () => sources.reconcileQueue().waiting)
  gauge('distromash_replications_running', 'Images this node is fetching, pinning, loading or removing now', () => sources.reconcileQueue().running)
  gauge('distromash_disk_used_bytes', 'Bytes of blocks this node holds (its pack blockstore, or its Kubo repo in sidecar mode)', async () => (await sources.disk()).usedBytes)
  gauge('distromash_disk_limit_bytes', 'The disk budget for blocks (0: none)', async () => (await sources.disk()).limitBytes)
}
