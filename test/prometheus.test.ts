import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../packages/p2pcomm/src/index.js'
import { startRegistry, type RunningRegistry } from '../packages/multiplatform2ipfs/test/helpers/registry.js'
import { DockerEngine, importBusyboxImage } from './helpers/docker.js'
import { NodeProcess, ROOT, eventually, freePort, writePeerstore } from './helpers/node-process.js'

const PROMETHEUS = '/usr/bin/prometheus'
const IMAGE = 'dmtest/metrics:1'

interface Sample { metric: Record<string, string>, value: [number, string] }

/** A real Prometheus (Debian's package) on loopback, scraping the given targets every second */
class Prometheus {
  private log = ''
  private constructor (private readonly child: ChildProcess, readonly url: string, private readonly dir: string) {
    child.stdout?.on('data', (d: Buffer) => { this.log = (this.log + d.toString()).slice(-4000) })
    child.stderr?.on('data', (d: Buffer) => { this.log = (this.log + d.toString()).slice(-4000) })
  }

  static required (): void {
    if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} is missing: install Debian's prometheus package (apt-get install prometheus; .ci/run does)`)
  }

  static async start (targets: string[]): Promise<Prometheus> {
    Prometheus.required()
    const dir = await mkdtemp(join(tmpdir(), 'dm-prom-'))
    const config = join(dir, 'prometheus.yml')
    await writeFile(config, [
      'global: { scrape_interval: 1s, scrape_timeout: 1s }',
      'scrape_configs:',
      '  - job_name: distromash',
      `    static_configs: [{ targets: [${targets.map(t => `'${t}'`).join(', ')}] }]`
    ].join('\n'))
    const port = await freePort()
    const child = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] })
    const prometheus = new Prometheus(child, `http://127.0.0.1:${port}`, dir)
    await eventually(async () => (await fetch(`${prometheus.url}/-/ready`).catch(() => undefined))?.ok === true, 30_000, `Prometheus ready (${prometheus.log.slice(-500)})`)
    return prometheus
  }

  /** An instant query through the HTTP API; a PromQL error fails with Prometheus's own message */
  async query (expr: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`)
    const body = await res.json() as { status: string, error?: string, data?: { resultType: string, result: Sample[] } }
    if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error ?? res.status}`)
    return body.data?.resultType === 'vector' ? body.data.result : []
  }

  /** The value of the query's one sample for the instance, or undefined */
  async value (expr: string, instance: string): Promise<number | undefined> {
    const sample = (await this.query(expr)).find(s => s.metric.instance === instance)
    return sample == null ? undefined : Number(sample.value[1])
  }

  async stop (): Promise<void> {
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    this.child.kill('SIGTERM')
    await exited
    await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * Issue 14, Metrics: a real Prometheus scrapes two real nodes (each beside a real Docker engine)
 * while the second replicates an image the first imported from a real upstream registry. Its
 * HTTP API shows both up, the replication counters moving on the nodes that did the work, and
 * every expression of deploy/'s Grafana dashboard evaluating against what it scraped.
 */
describe('a real Prometheus scraping two nodes during a replication', () => {
  let upstream: RunningRegistry
  let engines: DockerEngine[] = []
  let a: NodeProcess
  let b: NodeProcess
  let prometheus: Prometheus
  const instance = (node: NodeProcess): string => `127.0.0.1:${node.options.apiPort}`

  beforeAll(async () => {
    Prometheus.required() // before anything starts: fail at once, saying how to install it
    upstream = await startRegistry()
    engines = await Promise.all([DockerEngine.start(), DockerEngine.start()])
    const [ea] = engines as [DockerEngine, DockerEngine]
    await importBusyboxImage(ea, IMAGE, 'hello from the metrics')
    const port = new URL(upstream.url).port
    await ea.docker('tag', IMAGE, `127.0.0.1:${port}/${IMAGE}`)
    await ea.docker('push', `127.0.0.1:${port}/${IMAGE}`)
    await ea.docker('rmi', IMAGE, `127.0.0.1:${port}/${IMAGE}`)
    const dir = await mkdtemp(join(tmpdir(), 'dm-prom-nodes-'))
    const swarmKey = join(dir, 'swarm.key')
    await writeFile(swarmKey, generateSwarmKey())
    a = await NodeProcess.start({ swarmKey, extraArgs: ['--upstream', upstream.url, '--docker-host', engines[0]!.host, '--grace-period', '10'] })
    b = await NodeProcess.start({ swarmKey, peerstore: await writePeerstore(dir, [a]), extraArgs: ['--docker-host', engines[1]!.host, '--grace-period', '10'] })
    await eventually(async () => (await a.api<Array<{ id: string, connected: boolean }>>('/api/v1/peers')).body.some(p => p.id === b.peerId && p.connected), 20_000, 'a and b connected')
    prometheus = await Prometheus.start([instance(a), instance(b)])
  }, 180_000)

  afterAll(async () => {
    await prometheus?.stop().catch(() => {})
    await Promise.all([a?.stop(), b?.stop()])
    await Promise.all(engines.map(async e => e.stop()))
    await upstream?.stop()
  })

  it('shows both nodes up, then the replication counters moving on the nodes that did the work', async () => {
    await eventually(async () => {
      const up = await prometheus.query('up{job="distromash"}')
      return up.length === 2 && up.every(s => s.value[1] === '1')
    }, 30_000, 'up == 1 for both nodes')
    const [ia, ib] = [instance(a), instance(b)]
    expect(await prometheus.value('distromash_peers_connected', ia)).toBe(1)
    expect(await prometheus.value('distromash_peers_connected', ib)).toBe(1)
    // before: nothing replicated on B yet
    expect(await prometheus.value('distromash_replication_duration_seconds_count{stage="fetch",outcome="ok"}', ib)).toBe(0)
    expect(await prometheus.value('distromash_block_exchange_bytes_total{direction="received"}', ib)).toBe(0)

    const created = await a.api('/api/v1/strategy', { method: 'POST', body: JSON.stringify({ type: 'target', nametag: IMAGE, target: b.peerId, execute: true }) })
    expect(created.status).toBe(201)
    // loaded on B, as Prometheus saw it in a scrape
    await eventually(async () => await prometheus.value('distromash_images{state="loaded"}', ib) === 1, 90_000, 'B loaded, as scraped')
    await eventually(async () => await prometheus.value('distromash_replication_duration_seconds_count{stage="load",outcome="ok"}', ib) === 1, 10_000, 'the load stage counted')

    // A imported the image from the upstream (the strategy named an image the mesh did not have);
    // each node is scraped on its own clock, so A's scrape may come a second after B's
    await eventually(async () => await prometheus.value('distromash_import_duration_seconds_count{outcome="ok"}', ia) === 1, 10_000, 'the import counted on A')
    expect(await prometheus.value('distromash_import_bytes_total', ia)).toBeGreaterThan(0)
    // B fetched, pinned and loaded it: one of each, none failed, and its queue is empty again
    for (const stage of ['fetch', 'pin', 'load']) {
      expect(await prometheus.value(`distromash_replication_duration_seconds_count{stage="${stage}",outcome="ok"}`, ib), stage).toBe(1)
      expect(await prometheus.value(`distromash_replication_duration_seconds_count{stage="${stage}",outcome="failed"}`, ib), stage).toBe(0)
    }
    expect(await prometheus.value('distromash_replication_duration_seconds_count{stage="fetch",outcome="ok"}', ia)).toBe(0)
    await eventually(async () => await prometheus.value('distromash_reconcile_queue_length', ib) === 0, 15_000, 'B\'s queue empty')
    // the blocks went A → B, over the block exchange; B's engine pulled them from B's registry
    const received = await prometheus.value('distromash_block_exchange_bytes_total{direction="received"}', ib) ?? 0
    expect(received).toBeGreaterThan(0)
    // A's scrape runs on A's clock: the one that saw its sending may come after B's
    await eventually(async () => (await prometheus.value('distromash_block_exchange_bytes_total{direction="sent"}', ia) ?? 0) >= received, 10_000, 'A\'s sent bytes scraped')
    expect(await prometheus.value('sum by (instance) (distromash_registry_requests_total{route="blob",status="200"})', ib)).toBeGreaterThan(0)
    expect(await prometheus.value('distromash_registry_sent_bytes_total{route="blob"}', ib)).toBeGreaterThan(0)
    // disk usage is read at most every 10 s
    await eventually(async () => (await prometheus.value('distromash_disk_used_bytes', ib) ?? 0) > 0, 20_000, 'B\'s disk usage')
    expect(await prometheus.value('distromash_store_records{prefix="status"}', ia)).toBeGreaterThanOrEqual(1)
    expect(await prometheus.value('distromash_gossip_messages_total{topic="records",direction="in"}', ib)).toBeGreaterThan(0)
    expect(await prometheus.value('distromash_sync_messages_total{direction="out"}', ib)).toBeGreaterThan(0)
  }, 180_000)

  it('evaluates every expression of the Grafana dashboard in deploy/ against what it scraped', async () => {
    const dashboard = JSON.parse(await readFile(join(ROOT, 'deploy/grafana/distromash-dashboard.json'), 'utf8')) as { panels: Array<{ title: string, targets: Array<{ expr: string }> }> }
    let answered = 0
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        // Grafana's variables as a Grafana on this Prometheus would fill them in
        const promql = expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.+')
        const result = await prometheus.query(promql)
        if (result.length > 0) answered++
      }
    }
    // most panels have data after one replication (limits, failures and drops may rightly be empty)
    expect(answered).toBeGreaterThan(15)
  }, 60_000)
})
