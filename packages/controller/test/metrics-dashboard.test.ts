import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { createNodeMetrics } from '../src/metrics/index.js'

const DASHBOARD = new URL('../../../deploy/grafana/distromash-dashboard.json', import.meta.url)

interface Dashboard {
  panels: Array<{ title: string, targets: Array<{ expr: string }> }>
  templating: { list: Array<{ query?: unknown }> }
}

/** The series families a PromQL expression names (ours, the process and Node.js defaults, and Prometheus's up) */
function seriesIn (expr: string): string[] {
  return [...expr.matchAll(/\b((?:distromash|process|nodejs)_\w+|up)\b(?=\s*[{[)]|\s*>|\s*$)/g)].map(m => m[1] ?? '')
}

describe('the Grafana dashboard in deploy/', () => {
  it('names only series a node exports, and shows every distromash series', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard
    const sources = {
      version: 't', peers: async () => [], stats: () => ({ store: { keys: 0, tombstones: 0, droppedMessages: 0, remoteUpdates: 0, duplicates: 0, dropped: {} as never }, connections: 0, droppedAnnouncements: 0, providers: { announced: 0, failed: 0, queued: 0 } }),
      traffic: () => ({ gossip: { records: { in: 0, out: 0 }, announcements: { in: 0, out: 0 } }, sync: { in: 0, out: 0 }, blockExchange: { sentBytes: 0, receivedBytes: 0, failedRequests: 0 }, bitswap: { sent: 0, received: 0 } }),
      storeKeys: async () => [], replicationStates: async () => [], reconcileQueue: () => ({ waiting: 0, running: 0 }), disk: async () => ({ usedBytes: 0, limitBytes: 0 })
    }
    const metrics = createNodeMetrics(sources)
    metrics.registryRequest({ method: 'GET', route: 'base', status: 200, bytesSent: 2, seconds: 0 })
    const text = await metrics.render()
    const exported = new Set([...text.matchAll(/^# TYPE (\w+) (\w+)$/gm)].flatMap(([, name, type]) =>
      type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name ?? '']))

    const exprs = [
      ...dashboard.panels.flatMap(p => p.targets.map(t => ({ where: p.title, expr: t.expr }))),
      ...dashboard.templating.list.flatMap(v => typeof v.query === 'object' && v.query != null ? [{ where: 'variables', expr: JSON.stringify(v.query) }] : [])
    ]
    expect(exprs.length).toBeGreaterThan(20)
    const used = new Set<string>()
    for (const { where, expr } of exprs) {
      const names = seriesIn(expr.replace(/label_values\((\w+),/g, '$1{'))
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0)
      for (const name of names) {
        if (name !== 'up') expect(exported, `${where}: ${name}`).toContain(name)
        used.add(name.replace(/_(bucket|sum|count)$/, ''))
      }
    }
    const ours = [...text.matchAll(/^# TYPE (distromash_\w+) /gm)].map(m => m[1] ?? '')
    expect(ours.filter(name => !used.has(name))).toEqual([])
  })
})
