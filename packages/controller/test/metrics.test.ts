import { MemoryStore, type MeshTraffic, type StoreStats } from '@distromash/p2pcomm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { metricsRoutes } from '../src/api/metrics.js'
import { cachedDiskUsage, createNodeMetrics, type MetricsSources } from '../src/metrics/index.js'
import type { ReplicationState } from '../src/records/schemas.js'
import { startTwinApi, type TwinApi } from './helpers/twin-api.js'

/** The value of one sample of the exposition text; labels must match exactly, in any order */
function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m == null || m[1] !== name) continue
    const found = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(l => [l[1], l[2]]))
    if (JSON.stringify(Object.entries(found).sort()) === JSON.stringify(Object.entries(labels).sort())) return Number(m[3])
  }
  return undefined
}

function storeStats (): StoreStats {
  return {
    keys: 0, tombstones: 2, droppedMessages: 3, remoteUpdates: 10, duplicates: 4,
    dropped: { malformed: 1, 'bad-signature': 2, unauthorized: 0, stale: 0, future: 0, 'invalid-value': 0, 'rate-limited': 0, 'over-quota': 0 }
  }
}

function traffic (): MeshTraffic {
  return {
    gossip: { records: { in: 5, out: 6 }, announcements: { in: 7, out: 8 } },
    sync: { in: 9, out: 10 },
    blockExchange: { sentBytes: 1000, receivedBytes: 2000, failedRequests: 1 },
    bitswap: { sent: 300, received: 400 }
  }
}

/** Sources as plain mutable values: the twin of the mesh node, records and reconciler */
function twin (): MetricsSources & { state: { traffic: MeshTraffic, keys: string[], states: ReplicationState[] } } {
  const state = { traffic: traffic(), keys: ['image/app:1', 'image/app:2', 'status/12D3KooWx/app:1', 'custom'], states: ['loaded', 'fetching', 'loaded'] as ReplicationState[] }
  return {
    state,
    version: '9.9.9',
    peers: async () => [{ self: true, connected: false, live: true }, { self: false, connected: true, live: true }, { self: false, connected: false, live: false }],
    stats: () => ({ store: storeStats(), connections: 3, droppedAnnouncements: 2, providers: { announced: 5, failed: 1, queued: 0 } }),
    traffic: () => state.traffic,
    storeKeys: async () => state.keys,
    replicationStates: async () => state.states,
    reconcileQueue: () => ({ waiting: 2, running: 1 }),
    disk: async () => ({ usedBytes: 12345, limitBytes: 0 })
  }
}

describe('node metrics', () => {
  it('reads the node at every scrape: peers, store, drops, gossip, sync, bytes, images, queue, disk', async () => {
    const sources = twin()
    const metrics = createNodeMetrics(sources)
    let text = await metrics.render()
    expect(sample(text, 'distromash_build_info', { version: '9.9.9' })).toBe(1)
    expect(sample(text, 'distromash_peers_known')).toBe(2)
    expect(sample(text, 'distromash_peers_connected')).toBe(1)
    expect(sample(text, 'distromash_peers_live')).toBe(1)
    expect(sample(text, 'distromash_connections')).toBe(3)
    expect(sample(text, 'distromash_store_records', { prefix: 'image' })).toBe(2)
    expect(sample(text, 'distromash_store_records', { prefix: 'status' })).toBe(1)
    expect(sample(text, 'distromash_store_records', { prefix: 'other' })).toBe(1)
    expect(sample(text, 'distromash_store_records', { prefix: 'strategy' })).toBe(0)
    expect(sample(text, 'distromash_store_tombstones')).toBe(2)
    expect(sample(text, 'distromash_store_dropped_total', { reason: 'bad-signature' })).toBe(2)
    expect(sample(text, 'distromash_store_dropped_total', { reason: 'over-quota' })).toBe(0)
    expect(sample(text, 'distromash_announcements_dropped_total')).toBe(2)
    expect(sample(text, 'distromash_gossip_messages_total', { topic: 'records', direction: 'out' })).toBe(6)
    expect(sample(text, 'distromash_gossip_messages_total', { topic: 'announcements', direction: 'in' })).toBe(7)
    expect(sample(text, 'distromash_sync_messages_total', { direction: 'out' })).toBe(10)
    expect(sample(text, 'distromash_block_exchange_bytes_total', { direction: 'received' })).toBe(2000)
    expect(sample(text, 'distromash_bitswap_bytes_total', { direction: 'sent' })).toBe(300)
    expect(sample(text, 'distromash_images', { state: 'loaded' })).toBe(2)
    expect(sample(text, 'distromash_images', { state: 'failed' })).toBe(0)
    expect(sample(text, 'distromash_reconcile_queue_length')).toBe(2)
    expect(sample(text, 'distromash_replications_running')).toBe(1)
    expect(sample(text, 'distromash_disk_used_bytes')).toBe(12345)
    expect(sample(text, 'distromash_disk_limit_bytes')).toBe(0)
    expect(sample(text, 'distromash_failures_total', { kind: 'block_request' })).toBe(1)
    expect(sample(text, 'distromash_failures_total', { kind: 'provide' })).toBe(1)
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(sample(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0)

    // the node's counters grew: the next scrape says so (and never sums the old values in)
    sources.state.traffic = { ...traffic(), blockExchange: { sentBytes: 5000, receivedBytes: 2000, failedRequests: 1 } }
    sources.state.keys = []
    text = await metrics.render()
    expect(sample(text, 'distromash_block_exchange_bytes_total', { direction: 'sent' })).toBe(5000)
    expect(sample(text, 'distromash_block_exchange_bytes_total', { direction: 'received' })).toBe(2000)
    expect(sample(text, 'distromash_store_records', { prefix: 'image' })).toBe(0)
  })

  it('counts what the registry, the reconciler and the import jobs tell it', async () => {
    const metrics = createNodeMetrics(twin())
    metrics.registryRequest({ method: 'GET', route: 'blob', status: 200, bytesSent: 4096, seconds: 0.2 })
    metrics.registryRequest({ method: 'GET', route: 'blob', status: 200, bytesSent: 1024, seconds: 0.01 })
    metrics.registryRequest({ method: 'HEAD', route: 'manifest', status: 404, bytesSent: 0, seconds: 0.001 })
    metrics.replication.stage('fetch', 'ok', 3)
    metrics.replication.stage('pin', 'ok', 0.5)
    metrics.replication.stage('load', 'failed', 1)
    metrics.importFinished({ state: 'running', bytesDone: 1, bytesTotal: 9, createdAt: '2026-01-01T00:00:00.000Z' })
    metrics.importFinished({ state: 'done', bytesDone: 900, bytesTotal: 900, createdAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:02.000Z' })
    metrics.importFinished({ state: 'failed', bytesDone: 0, bytesTotal: 0, createdAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:00.500Z' })
    const text = await metrics.render()
    expect(sample(text, 'distromash_registry_requests_total', { method: 'GET', route: 'blob', status: '200' })).toBe(2)
    expect(sample(text, 'distromash_registry_requests_total', { method: 'HEAD', route: 'manifest', status: '404' })).toBe(1)
    expect(sample(text, 'distromash_registry_sent_bytes_total', { route: 'blob' })).toBe(5120)
    expect(sample(text, 'distromash_registry_request_duration_seconds_count', { route: 'blob' })).toBe(2)
    expect(sample(text, 'distromash_replication_duration_seconds_count', { stage: 'fetch', outcome: 'ok' })).toBe(1)
    expect(sample(text, 'distromash_replication_duration_seconds_sum', { stage: 'fetch', outcome: 'ok' })).toBe(3)
    expect(sample(text, 'distromash_replication_duration_seconds_count', { stage: 'load', outcome: 'failed' })).toBe(1)
    // a stage that never ran is there at zero, so rate() and alerts see it from the start
    expect(sample(text, 'distromash_replication_duration_seconds_count', { stage: 'pin', outcome: 'failed' })).toBe(0)
    expect(sample(text, 'distromash_failures_total', { kind: 'replication_load' })).toBe(1)
    expect(sample(text, 'distromash_failures_total', { kind: 'replication_fetch' })).toBe(0)
    expect(sample(text, 'distromash_import_duration_seconds_count', { outcome: 'ok' })).toBe(1)
    expect(sample(text, 'distromash_import_duration_seconds_sum', { outcome: 'ok' })).toBe(2)
    expect(sample(text, 'distromash_import_duration_seconds_count', { outcome: 'failed' })).toBe(1)
    expect(sample(text, 'distromash_import_bytes_total')).toBe(900)
    expect(sample(text, 'distromash_failures_total', { kind: 'import' })).toBe(1)
  })

  it('follows Prometheus naming: counters end in _total, units in names, no peer ID, CID or image in a label', async () => {
    const metrics = createNodeMetrics(twin())
    metrics.registryRequest({ method: 'GET', route: 'blob', status: 200, bytesSent: 1, seconds: 0.1 })
    const text = await metrics.render()
    for (const [, name, type] of text.matchAll(/^# TYPE (distromash_\w+) (\w+)$/gm)) {
      if (type === 'counter') expect(name).toMatch(/_total$/)
      else expect(name).not.toMatch(/_total$/)
      if (type === 'histogram') expect(name).toMatch(/_seconds$/)
    }
    const values = [...text.matchAll(/^distromash_\w+\{(.*)\} /gm)].flatMap(m => [...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(l => `${l[1] ?? ''}=${l[2] ?? ''}`))
    expect(values.length).toBeGreaterThan(50)
    for (const v of values) expect(v, v).toMatch(/^(version=9\.9\.9|le=[\d.+Inf]+|status=\d{3}|method=[A-Z]+|[a-z]+=[a-z_-]+)$/)
  })

  it('reads the disk usage at most every 10 s, with the limit from its hook', async () => {
    let reads = 0
    const disk = cachedDiskUsage(async () => { reads++; return 42 }, () => 1000)
    expect(await disk()).toEqual({ usedBytes: 42, limitBytes: 1000 })
    expect(await disk()).toEqual({ usedBytes: 42, limitBytes: 1000 })
    expect(reads).toBe(1)
    expect(await cachedDiskUsage(async () => { throw new Error('Kubo away') })()).toEqual({ usedBytes: 0, limitBytes: 0 })
  })
})

describe('GET /metrics', () => {
  let api: TwinApi
  let base = ''

  beforeAll(async () => {
    // a token guards writes only: a scraper needs none
    api = await startTwinApi(await MemoryStore.create(), {}, { apiToken: 'secret', routes: [metricsRoutes(createNodeMetrics(twin()))] })
    base = api.url
  })

  afterAll(async () => { await api.close() })

  it('answers Prometheus text without a token, is in the OpenAPI document, and allows only GET and HEAD', async () => {
    const res = await fetch(`${base}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(sample(await res.text(), 'distromash_peers_connected')).toBe(1)
    const doc = await (await fetch(`${base}/openapi.json`)).json() as { paths: Record<string, { get?: { responses: Record<string, { content?: Record<string, unknown> }> } }> }
    expect(Object.keys(doc.paths['/metrics']?.get?.responses['200']?.content ?? {})).toEqual(['text/plain'])
    const post = await fetch(`${base}/metrics`, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
  })
})
