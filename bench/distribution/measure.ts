import { readFile, writeFile } from 'node:fs/promises'
import type { Host } from '../../test/helpers/hosts.js'
import { sh } from '../../test/helpers/sh.js'

/** What one distribution run took, and what left the seed */
export interface RunResult {
  seconds: number
  perHost: number[]
  seedBytes: number
  /** Fraction of all CPU time busy during the run (all cores, any process: shows contention) */
  cpuBusy: number
  /** CPU the run's own processes (engines, registry, nodes) used, in cores */
  ownCores: number
}

/** Time a distribution, counting CPU and the bytes the seed's link sent while it ran */
export async function timed (seedVeth: string, namespaces: string[], work: () => Promise<number[]>): Promise<RunResult> {
  const [cpu0, own0, tx0] = [await cpuTimes(), await nsCpuTicks(namespaces), await seedSent(seedVeth)]
  const start = performance.now()
  const perHost = await work()
  const seconds = (performance.now() - start) / 1000
  const [cpu1, own1] = [await cpuTimes(), await nsCpuTicks(namespaces)]
  return {
    seconds,
    perHost,
    seedBytes: await seedSent(seedVeth) - tx0,
    cpuBusy: 1 - (cpu1.idle - cpu0.idle) / (cpu1.total - cpu0.total),
    ownCores: (own1 - own0) / TICKS_PER_SECOND / seconds
  }
}

const TICKS_PER_SECOND = 100

/**
 * CPU ticks of every process in the namespaces, with their reaped children (docker-untar, …).
 * Processes that end during the run without a living parent are missed: a lower bound.
 */
async function nsCpuTicks (namespaces: string[]): Promise<number> {
  let ticks = 0
  for (const ns of namespaces) {
    const { stdout } = await sh('ip', ['netns', 'pids', ns])
    for (const pid of stdout.split('\n').filter(p => p.trim() !== '')) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
      // fields after the parenthesised command: utime, stime, cutime, cstime are 14–17 (1-based)
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0)
    }
  }
  return ticks
}

/** Central: every host `docker pull`s the image from the seed registry at the same time */
export async function centralPull (hosts: Host[], ref: string): Promise<number[]> {
  const start = performance.now()
  return Promise.all(hosts.map(async h => {
    await h.docker('pull', '--quiet', ref)
    return (performance.now() - start) / 1000
  }))
}

/** Make sure no engine holds the image, so the next run moves every byte again */
export async function removeEverywhere (hosts: Host[], refs: string[]): Promise<void> {
  await Promise.all(hosts.map(async h => {
    for (const ref of refs) await h.docker('rmi', '--force', ref).catch(() => { /* not there */ })
  }))
}

interface Cell { peerId: string, image: string, state: string, error?: string, bytesDone?: number, bytesTotal?: number }

function describe (cell?: Cell): string {
  if (cell == null) return '-'
  return cell.bytesTotal != null && cell.state === 'fetching' ? `fetching ${Math.round(100 * (cell.bytesDone ?? 0) / cell.bytesTotal)}%` : cell.state
}

/**
 * Mesh: one percentage-100 strategy posted to the first host; done when every host's cell of
 * the replication matrix says `loaded`. UNTESTED until the strategy API and reconciler land
 * (issue 4): the request and matrix shapes follow the issue and packages/controller's sources.
 */
/**
 * The first host imports the image from the seed registry before the clock starts, as the
 * central registry is filled before its clock starts: both then distribute an image they hold.
 */
export async function meshImport (first: Host, nametag: string): Promise<number> {
  const start = performance.now()
  const imported = await first.api('/api/v1/image?wait=true', { method: 'POST', body: JSON.stringify({ name: nametag }) })
  if (imported.status !== 200) throw new Error(`import answered ${imported.status}: ${JSON.stringify(imported.body)}`)
  return (performance.now() - start) / 1000
}

/** How often the replication matrix is read: a host's time is when a read first shows it loaded, so up to this late */
const POLL_MS = 100

export async function meshReplicate (hosts: Host[], nametag: string, { timeoutMs = 30 * 60_000, quiet = false } = {}): Promise<number[]> {
  const first = hosts[0] as Host
  const start = performance.now()
  const log = quiet ? () => {} : console.log
  // the nodes' logs (--logs) carry epoch milliseconds: this relates them to the clock
  log(`    clock started at ${Date.now()} (epoch ms)`)
  const body = JSON.stringify({ type: 'percentage', nametag, percentage: 100, target: 'doesntmatter', execute: true })
  const created = await first.api('/api/v1/strategy', { method: 'POST', body })
  if (created.status !== 201) throw new Error(`POST /api/v1/strategy answered ${created.status}: ${JSON.stringify(created.body)}`)
  const doneAt = new Map<string, number>()
  let lastLog = 0
  for (;;) {
    if (performance.now() - start > timeoutMs) throw new Error(`mesh did not finish: ${doneAt.size}/${hosts.length} hosts loaded`)
    const cells = await cellsFor(first, nametag)
    for (const cell of cells) {
      if (cell.state === 'failed') throw new Error(`${cell.peerId} failed: ${cell.error ?? 'no error given'}`)
      if (cell.state === 'loaded' && !doneAt.has(cell.peerId)) doneAt.set(cell.peerId, (performance.now() - start) / 1000)
    }
    // the run ends when the last host is seen loaded (until 2026-12-05 it ended one poll interval later)
    if (doneAt.size === hosts.length) return hosts.map(h => doneAt.get(h.peerId) ?? NaN)
    if (performance.now() - lastLog > 5000) {
      lastLog = performance.now()
      log(`    ${((lastLog - start) / 1000).toFixed(0)} s: ${hosts.map(h => `${h.label} ${describe(cells.find(c => c.peerId === h.peerId))}`).join(', ')}`)
    }
    await new Promise(resolve => setTimeout(resolve, POLL_MS))
  }
}

/** The matrix cells of one image; an image without a tag is matched as :latest */
async function cellsFor (host: Host, nametag: string): Promise<Cell[]> {
  const { status, body } = await host.api<{ cells: Cell[] }>('/api/v1/replication')
  if (status !== 200) throw new Error(`GET /api/v1/replication answered ${status}`)
  const wanted = nametag.includes(':') ? nametag : `${nametag}:latest`
  return body.cells.filter(c => c.image === wanted || c.image.endsWith(`/${wanted}`))
}

/** Delete the benchmark's strategy so its peers release the image (best effort) */
export async function deleteStrategies (host: Host): Promise<void> {
  const { body } = await host.api<Array<{ key: string }>>('/api/v1/strategy')
  for (const s of Array.isArray(body) ? body : []) await host.api(`/api/v1/strategy/${encodeURIComponent(s.key)}`, { method: 'DELETE' })
}

async function cpuTimes (): Promise<{ idle: number, total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? ''
  const fields = line.trim().split(/\s+/).slice(1).map(Number)
  // idle + iowait count as not busy
  return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) }
}

/** The root end of the seed's veth receives whatever the seed sends */
async function seedSent (veth: string): Promise<number> {
  return Number(await readFile(`/sys/class/net/${veth}/statistics/rx_bytes`, 'utf8'))
}

/** One host as the timeline sees it: its bridge-side veth and its namespace */
export interface TimelineHost { label: string, veth: string, name: string }

/**
 * Every second, each host's link use and CPU, appended to `out` until stop(): which link was
 * full and which host's processes held the CPU at each moment of a run (bench/distribution's
 * README reads the 100 Mbit/s start and tail from it). The bridge end of a host's veth
 * transmits what the host downloads and receives what it uploads.
 */
export function startTimeline (hosts: TimelineHost[], out: string): { stop: () => Promise<void> } {
  const lines: string[] = [`# s, machine busy %, then per host: down/up Mbit/s and cores (all its namespace's processes)`]
  const start = performance.now()
  let previous: Sample | undefined
  let sampling = Promise.resolve()
  const tick = (): void => {
    sampling = sampling.then(async () => {
      const now = await sample(hosts)
      if (previous != null) lines.push(describeSecond(hosts, previous, now, (performance.now() - start) / 1000))
      previous = now
    }).catch(() => { /* a host being torn down: the next second tries again */ })
  }
  tick()
  const timer = setInterval(tick, 1000)
  return {
    stop: async () => {
      clearInterval(timer)
      await sampling
      await writeFile(out, lines.join('\n') + '\n')
    }
  }
}

interface Sample { at: number, cpu: { idle: number, total: number }, hosts: Array<{ down: number, up: number, ticks: number }> }

async function sample (hosts: TimelineHost[]): Promise<Sample> {
  const counter = async (veth: string, name: string): Promise<number> => Number(await readFile(`/sys/class/net/${veth}/statistics/${name}`, 'utf8'))
  return {
    at: performance.now(),
    cpu: await cpuTimes(),
    hosts: await Promise.all(hosts.map(async h => ({
      down: await counter(h.veth, 'tx_bytes'), up: await counter(h.veth, 'rx_bytes'), ticks: await nsCpuTicks([h.name])
    })))
  }
}

function describeSecond (hosts: TimelineHost[], a: Sample, b: Sample, at: number): string {
  const dt = (b.at - a.at) / 1000
  const mbit = (bytes: number): string => (bytes * 8 / 1e6 / dt).toFixed(0)
  const busy = 1 - (b.cpu.idle - a.cpu.idle) / (b.cpu.total - a.cpu.total)
  const perHost = hosts.map((h, i) => {
    const [x, y] = [a.hosts[i], b.hosts[i]] as [Sample['hosts'][number], Sample['hosts'][number]]
    return `${h.label} ↓${mbit(y.down - x.down)} ↑${mbit(y.up - x.up)} ${((y.ticks - x.ticks) / TICKS_PER_SECOND / dt).toFixed(2)}c`
  })
  return `${at.toFixed(0).padStart(4)} s ${(busy * 100).toFixed(0).padStart(3)}% | ${perHost.join(' | ')}`
}
