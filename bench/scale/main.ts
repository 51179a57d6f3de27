import { randomBytes } from 'node:crypto'
import { readFile, mkdir, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
// @ts-expect-error plain ESM without types: the cleanup stack (failure, Ctrl-C), the random image
import { followStoreEvents, onCleanup, pushRandomImage, runBench } from '../lib/bench.mjs'
import { newSwarmKey, startRegistry } from '../../test/helpers/cluster.js'
import { Host } from '../../test/helpers/hosts.js'
import { cleanupStale, createLan, sh, type Lan, type LanHost } from '../../test/helpers/netns.js'

/**
 * bench/scale: N node processes, one per network namespace on one bridge (test/helpers/netns.ts),
 * one private network (a generated swarm key), each bootstrapped only to node 1 through its
 * peerstore file. No Docker engine anywhere: nodes pin only. Node 1's upstream is Debian's
 * docker-registry listening in node 1's namespace (loopback for node 1, the bridge address for
 * this process, which pushes the small image into it).
 */

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '30' },
    /** Writes for the propagation figure, round-robin over the nodes */
    writes: { type: 'string', default: '60' },
    /** Nodes started at once after node 1 (a node spends ~2 s of CPU loading; this host has 2 cores) */
    batch: { type: 'string', default: '4' },
    /** Quiet window for the idle CPU figure */
    'idle-s': { type: 'string', default: '30' },
    /** How long to keep watching the peer lists after the 60 s target, to tell late from never */
    'watch-s': { type: 'string', default: '60' },
    cleanup: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    /** Write every node's output to DIR/<label>.log at the end */
    logs: { type: 'string' }
  }
})
const N = Number(values.nodes)
const W = Number(values.writes)
const BATCH = Number(values.batch)
const IDLE_S = Number(values['idle-s'])
const WATCH_S = Number(values['watch-s'])
const CORES = availableParallelism()
const UPSTREAM_PORT = 5000
const NAMETAG = 'bench/small:1'
const PERCENTAGE = 10
const TARGET_LIVE_S = 60
/** bench/propagation's target at 10 nodes on loopback: printed beside the p95 for comparison, not a target here */
const PROPAGATION_P95_MS = 500
/** A write must reach every node within this: over gossip, else by the 10 s pull sync (SYNC_INTERVAL_MS) */
const WRITE_TIMEOUT_MS = 15_000

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))] ?? NaN }
const median = (xs: number[]): number => pct(xs, 50)
const verdict = (ok: boolean): string => ok ? 'PASS' : 'FAIL'
const results: Array<{ name: string, ok: boolean }> = []
const target = (name: string, ok: boolean): string => { results.push({ name, ok }); return verdict(ok) }

interface PeerView { id: string, self: boolean, connected: boolean, live: boolean, lastSeen?: string, lastConnected?: string, announcement?: unknown }

async function main (): Promise<number> {
  if (values.cleanup) {
    console.log(`removed: ${(await cleanupStale()).join(', ') || 'nothing'}`)
    return 0
  }
  if (process.getuid?.() !== 0) throw new Error('bench/scale needs root (network namespaces)')
  const t0 = performance.now()
  const lan = await createLan({ hosts: N })
  onCleanup(async () => { await lan.destroy() })
  const hosts = await makeHosts(lan)
  onCleanup(async () => { await Promise.all(hosts.map(async h => { await h.stop().catch(() => {}) })) })
  if (values.logs != null) onCleanup(async () => { await saveLogs(hosts, values.logs as string) })
  const first = hosts[0] as Host
  const registry = await startRegistry(first.net, join(lan.dir, 'upstream'), `0.0.0.0:${UPSTREAM_PORT}`)
  onCleanup(registry.stop)
  const image = await pushRandomImage(`http://${first.ip}:${UPSTREAM_PORT}`, 'bench/small', '1', { layers: 2, layerMiB: 1 }) as { size: number }
  console.log(`load average at start: ${loadavg().map(l => l.toFixed(1)).join(' ')} (${CORES} cores; the machine may be shared)`)
  console.log(`${N} namespaces on ${lan.bridge} (${((performance.now() - t0) / 1000).toFixed(1)} s); upstream docker-registry in ${first.net.name} holds ${NAMETAG} (${(image.size / 1024 / 1024).toFixed(1)} MiB)`)

  // ------------------------------------------------------------ start: node 1, then batches bootstrapping to it
  const started = performance.now()
  await first.start()
  for (const h of hosts.slice(1)) await writeFile(h.peerstore, first.multiaddr + '\n')
  for (let k = 1; k < N; k += BATCH) await Promise.all(hosts.slice(k, k + BATCH).map(async h => { await h.start() }))
  const allUp = performance.now()
  console.log(`${N} nodes started in ${((allUp - started) / 1000).toFixed(1)} s (batches of ${BATCH} after node 1, each bootstrapped only to node 1)`)

  // ------------------------------------------------------------ 1. every node lists every other as live
  const formed = await watchLiveness(hosts, allUp, TARGET_LIVE_S * 1000, WATCH_S * 1000)
  const liveOk = formed.allAtMs != null && formed.allAtMs <= TARGET_LIVE_S * 1000
  console.log(`\n1. liveness: every node lists the other ${N - 1} as live ` +
    (formed.allAtMs != null ? `${(formed.allAtMs / 1000).toFixed(1)} s after the last node started (${((formed.allAtMs + allUp - started) / 1000).toFixed(1)} s after node 1)` : `not within ${TARGET_LIVE_S + WATCH_S} s`) +
    `  target ≤ ${TARGET_LIVE_S} s  ${target('liveness within 60 s', liveOk)}`)
  console.log(`   per node, time to list all others: median ${fmtS(median(formed.perNode))}, max ${fmtS(Math.max(...formed.perNode))}`)
  console.log(`   ${repairs(hosts)}`)
  if (formed.allAtMs == null) return finish()

  // ------------------------------------------------------------ 2. write → visible everywhere
  await sleep(3000) // gossipsub heartbeats settle the mesh
  const w = await measureWrites(hosts)
  console.log(`\n2. writes: ${w.complete}/${W} writes visible on all ${N - 1} other nodes within ${WRITE_TIMEOUT_MS / 1000} s  ${target('every write visible everywhere', w.complete === W)}`)
  console.log(`   write → visible on all others: p50 ${w.p50.toFixed(0)} ms, p95 ${w.p95.toFixed(0)} ms, max ${w.max.toFixed(0)} ms (${w.late} over 1 s)  (bench/propagation's target at 10 nodes: p95 < ${PROPAGATION_P95_MS} ms)`)
  console.log(`   write → visible on one other: p50 ${w.oneP50.toFixed(0)} ms, p95 ${w.oneP95.toFixed(0)} ms`)

  // ------------------------------------------------------------ 3. percentage-10 strategy of a small image
  const s = await runStrategy(hosts)
  const want = Math.ceil(PERCENTAGE / 100 * N)
  console.log(`\n3. strategy: percentage ${PERCENTAGE} of ${NAMETAG}: ${s.done.length} nodes ${s.done.length > 0 ? `(${s.done.map(d => `${d.label} ${d.state}`).join(', ')}) ` : ''}` +
    `in ${fmtS(s.ms)}; selected ${s.selected}, other states: ${s.others.length === 0 ? 'none' : s.others.join(', ')}  target exactly ceil(${PERCENTAGE} % × ${N}) = ${want}  ${target('strategy on exactly ceil(10 % × N) nodes', s.done.length === want && s.others.length === 0)}`)

  // ------------------------------------------------------------ 4. idle CPU and RSS
  await sleep(10_000) // the replicas' statuses and assignment settle
  const idle = await measureIdle(lan)
  console.log(`\n4. idle (${IDLE_S} s window, nothing asked of the mesh): whole mesh ${(idle.cores * 100).toFixed(1)} % of one core ` +
    `(${(idle.cores * 100 / N).toFixed(2)} % per node, ${(idle.cores / CORES * 100).toFixed(1)} % of this ${CORES}-core host; the host was ${(idle.machineBusy * 100).toFixed(0)} % busy in all, load average ${loadavg().map(l => l.toFixed(1)).join(' ')})`)
  console.log(`   RSS per node: median ${idle.rss.median.toFixed(0)} MB, mean ${idle.rss.mean.toFixed(0)} MB, min ${idle.rss.min.toFixed(0)}, max ${idle.rss.max.toFixed(0)} MB; whole mesh ${(idle.rss.sum / 1024).toFixed(2)} GB`)

  // ------------------------------------------------------------ and still every node lists every other
  const still = await liveCounts(hosts)
  const short = still.filter(c => c.live < N - 1)
  console.log(`\n   after all that (${fmtS(performance.now() - allUp)} after start): ${short.length === 0 ? `every node still lists the other ${N - 1} as live` : `${short.length} nodes list fewer: ${short.map(c => `${c.label} ${c.live}/${N - 1}`).join(', ')}`}  ${target('still live at the end', short.length === 0)}`)
  if (short.length > 0) await explainMissing(hosts, short.map(c => c.label))
  console.log(`   over the whole run: ${repairs(hosts)}`)
  return finish()
}

function finish (): number {
  const failed = results.filter(r => !r.ok)
  console.log(`\nbench/scale, ${N} nodes: ${failed.length === 0 ? 'PASS' : `FAIL (${failed.map(r => r.name).join('; ')})`}`)
  return failed.length === 0 ? 0 : 1
}

/** Connections a node found open without gossip and identified again (p2pcomm/src/peers.ts repairGossip; needs --log-level info) */
function repairs (hosts: Host[]): string {
  const counts = hosts.map(h => ({ label: h.label, n: (h.output.match(/running identify again/g) ?? []).length })).filter(c => c.n > 0)
  return `connections found without gossip and identified again: ${counts.reduce((s, c) => s + c.n, 0)}${counts.length > 0 ? ` (${counts.map(c => `${c.label} ${c.n}`).join(', ')})` : ''}`
}

const fmtS = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

async function makeHosts (lan: Lan): Promise<Host[]> {
  const swarmKey = join(lan.dir, 'swarm.key')
  await writeFile(swarmKey, await newSwarmKey())
  const apiToken = randomBytes(16).toString('hex')
  return Promise.all(lan.hosts.map(async (net: LanHost, i: number) => {
    const dir = join(lan.dir, net.label)
    await mkdir(dir, { recursive: true })
    // no dockerd is started: --docker-host names a socket that never exists, so nodes pin only
    return new Host(net, dir, { swarmKey, apiToken, logLevel: values['log-level'], upstream: i === 0 ? `http://127.0.0.1:${UPSTREAM_PORT}` : undefined })
  }))
}

async function peersOf (h: Host): Promise<PeerView[]> {
  const { status, body } = await h.api<PeerView[]>('/api/v1/peers')
  if (status !== 200) throw new Error(`GET /api/v1/peers on ${h.label}: ${status}`)
  return body
}

/** How many of the other bench nodes each node lists as live (peers outside the bench are not counted) */
async function liveCounts (hosts: Host[]): Promise<Array<{ label: string, live: number }>> {
  const ids = new Set(hosts.map(h => h.peerId))
  return Promise.all(hosts.map(async h => ({ label: h.label, live: (await peersOf(h)).filter(p => !p.self && p.live && ids.has(p.id)).length })))
}

/**
 * Polls every node's peer list each second from `since` until all list all others at once, or
 * until targetMs + watchMs (printing who lacks whom at the target, and watching on to tell late
 * from never).
 */
async function watchLiveness (hosts: Host[], since: number, targetMs: number, watchMs: number): Promise<{ allAtMs?: number, perNode: number[] }> {
  const firstFull = new Map<string, number>()
  let explained = false
  for (;;) {
    const at = performance.now() - since
    const counts = await liveCounts(hosts)
    for (const c of counts) if (c.live === hosts.length - 1 && !firstFull.has(c.label)) firstFull.set(c.label, at)
    const short = counts.filter(c => c.live < hosts.length - 1)
    if (short.length === 0) return { allAtMs: at, perNode: hosts.map(h => firstFull.get(h.label) ?? NaN) }
    if (at > targetMs && !explained) {
      explained = true
      console.log(`   at ${fmtS(at)}: ${short.length} nodes list fewer than ${hosts.length - 1}: ${short.map(c => `${c.label} ${c.live}`).join(', ')}`)
      await explainMissing(hosts, short.map(c => c.label))
    }
    if (at > targetMs + watchMs) {
      console.log(`   at ${fmtS(at)}, still: ${short.map(c => `${c.label} ${c.live}`).join(', ')}`)
      await explainMissing(hosts, short.map(c => c.label))
      return { perNode: hosts.map(h => firstFull.get(h.label) ?? Infinity) }
    }
    await sleep(1000)
  }
}

/** For each short node: the peers it lacks, how it sees them, and how they see it (at most 8 nodes, 6 peers each) */
async function explainMissing (hosts: Host[], labels: string[]): Promise<void> {
  const now = Date.now()
  const age = (iso?: string): string => iso == null ? 'never' : `${((now - Date.parse(iso)) / 1000).toFixed(0)} s ago`
  for (const label of labels.slice(0, 8)) {
    const h = hosts.find(x => x.label === label) as Host
    const peers = await peersOf(h)
    const health = (await h.api<{ connections: number }>('/health')).body
    const lacks = hosts.filter(o => o !== h && !peers.some(p => p.id === o.peerId && p.live))
    const unknown = lacks.filter(o => !peers.some(p => p.id === o.peerId))
    const known = await Promise.all(lacks.filter(o => !unknown.includes(o)).slice(0, 6).map(async o => {
      const p = peers.find(q => q.id === o.peerId) as PeerView
      const back = (await peersOf(o)).find(q => q.id === h.peerId)
      return `${o.label}: connected=${p.connected} lastSeen ${age(p.lastSeen)} lastConnected ${age(p.lastConnected)} announcement=${p.announcement != null}, ` +
        `${o.label} sees ${label} ${back == null ? 'unknown' : `connected=${back.connected} live=${back.live}`}`
    }))
    console.log(`   ${label} (${health.connections} connections) lacks ${lacks.length}${unknown.length > 0 ? `, never heard of ${unknown.map(o => o.label).join(' ')}` : ''}${known.length > 0 ? `: ${known.join(' | ')}` : ''}`)
  }
  if (labels.length > 8) console.log(`   (and ${labels.length - 8} more)`)
}

/** Follows a node's /api/v1/events; calls onKey(key, time) for every store change */
async function follow (h: Host, onKey: (key: string, at: number) => void, signal: AbortSignal): Promise<void> {
  await followStoreEvents(h.apiUrl, onKey, signal, { authorization: `Bearer ${h.config.apiToken}` })
}

/** bench/propagation's measure, over the namespaces: W writes round-robin, each timed until every other node's event stream shows it */
async function measureWrites (hosts: Host[]): Promise<{ complete: number, p50: number, p95: number, max: number, late: number, oneP50: number, oneP95: number }> {
  const arrivals = new Map<string, Map<string, number>>()
  const abort = new AbortController()
  try {
    await Promise.all(hosts.map(async h => {
      await follow(h, (key, at) => {
        if (!arrivals.has(key)) arrivals.set(key, new Map())
        arrivals.get(key)?.set(h.label, at)
      }, abort.signal)
    }))
    const all: number[] = []
    const one: number[] = []
    let complete = 0
    const tag = randomBytes(3).toString('hex')
    for (let i = 0; i < W; i++) {
      const writer = hosts[i % hosts.length] as Host
      const key = `bench/scale/${tag}/${i}`
      const t0 = performance.now()
      const res = await writer.api('/api/v1/crdt', { method: 'POST', body: JSON.stringify({ key, value: { i, at: Date.now() } }) })
      if (res.status !== 201) throw new Error(`write on ${writer.label}: ${res.status} ${JSON.stringify(res.body)}`)
      while ((arrivals.get(key)?.size ?? 0) < hosts.length && performance.now() - t0 < WRITE_TIMEOUT_MS) await sleep(2)
      const seen = arrivals.get(key) ?? new Map<string, number>()
      const times = [...seen].filter(([label]) => label !== writer.label).map(([, at]) => at - t0)
      one.push(...times)
      if (seen.size === hosts.length) { complete++; all.push(Math.max(...times)) } else {
        console.log(`   ${key} from ${writer.label} reached ${times.length}/${hosts.length - 1} others in ${WRITE_TIMEOUT_MS / 1000} s; missing: ${hosts.filter(h => !seen.has(h.label)).map(h => h.label).join(', ')}`)
      }
      await sleep(50)
    }
    return { complete, p50: pct(all, 50), p95: pct(all, 95), max: Math.max(...all), late: all.filter(ms => ms > 1000).length, oneP50: pct(one, 50), oneP95: pct(one, 95) }
  } finally {
    abort.abort()
  }
}

interface Cell { peerId: string, image: string, state: string, error?: string }

/**
 * POST a percentage-10 strategy to node 1 (its import from the upstream starts there), then poll
 * node 1's replication matrix until the selected peers are all pinned (no Docker: `pinned`, with
 * Docker `loaded`) and stay so for 10 s with no other cell for the image.
 */
async function runStrategy (hosts: Host[]): Promise<{ ms: number, selected: number, done: Array<{ label: string, state: string }>, others: string[] }> {
  const first = hosts[0] as Host
  const t0 = performance.now()
  const created = await first.api('/api/v1/strategy', { method: 'POST', body: JSON.stringify({ type: 'percentage', nametag: NAMETAG, percentage: PERCENTAGE, execute: true }) })
  if (created.status !== 201) throw new Error(`POST /api/v1/strategy answered ${created.status}: ${JSON.stringify(created.body)}`)
  const labelOf = (id: string): string => hosts.find(h => h.peerId === id)?.label ?? id.slice(-6)
  let stableSince: number | undefined
  let last = { ms: 0, selected: 0, done: [] as Array<{ label: string, state: string }>, others: [] as string[] }
  let lastLog = 0
  while (performance.now() - t0 < 180_000) {
    const view = (await first.api<Array<{ nametag: string, selected: string[] }>>('/api/v1/strategy')).body.find(v => v.nametag === NAMETAG)
    const cells = (await first.api<{ cells: Cell[] }>('/api/v1/replication')).body.cells.filter(c => c.image === NAMETAG)
    const done = cells.filter(c => c.state === 'pinned' || c.state === 'loaded')
    const others = cells.filter(c => !(c.state === 'pinned' || c.state === 'loaded')).map(c => `${labelOf(c.peerId)} ${c.state}${c.error != null ? ` (${c.error})` : ''}`)
    const selected = view?.selected.length ?? 0
    if (selected > 0 && done.length === selected && others.length === 0) {
      if (stableSince == null) { stableSince = performance.now(); last = { ms: stableSince - t0, selected, done: done.map(c => ({ label: labelOf(c.peerId), state: c.state })), others } }
      if (performance.now() - stableSince > 10_000) return { ...last, selected, done: done.map(c => ({ label: labelOf(c.peerId), state: c.state })), others }
    } else {
      stableSince = undefined
      last = { ms: performance.now() - t0, selected, done: done.map(c => ({ label: labelOf(c.peerId), state: c.state })), others }
    }
    if (performance.now() - lastLog > 5000) {
      lastLog = performance.now()
      console.log(`   ${fmtS(lastLog - t0)}: selected ${selected}, ${cells.map(c => `${labelOf(c.peerId)} ${c.state}`).join(', ') || 'no statuses yet'}`)
    }
    await sleep(250)
  }
  return last
}

/** The node process of each namespace (its cmdline names bin/distromash) */
async function nodePids (lan: Lan): Promise<number[]> {
  const pids: number[] = []
  for (const h of lan.hosts) {
    const { stdout } = await sh('ip', ['netns', 'pids', h.name])
    for (const pid of stdout.split('\n').filter(p => p.trim() !== '').map(Number)) {
      if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('bin/distromash')) pids.push(pid)
    }
  }
  return pids
}

/** utime + stime of a process, in clock ticks (USER_HZ = 100) */
async function ticks (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

async function rssMb (pid: number): Promise<number> {
  return Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024
}

/** All CPU time of this machine and its idle part (idle + iowait), from /proc/stat, in ticks */
async function machineTicks (): Promise<{ idle: number, total: number }> {
  const fields = ((await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) }
}

async function measureIdle (lan: Lan): Promise<{ cores: number, machineBusy: number, rss: { median: number, mean: number, min: number, max: number, sum: number } }> {
  const pids = await nodePids(lan)
  if (pids.length !== N) throw new Error(`found ${pids.length} node processes, expected ${N}`)
  const before = await Promise.all(pids.map(ticks))
  const m0 = await machineTicks()
  const t0 = performance.now()
  await sleep(IDLE_S * 1000)
  const after = await Promise.all(pids.map(ticks))
  const m1 = await machineTicks()
  const seconds = (performance.now() - t0) / 1000
  const used = after.reduce((s, t, i) => s + t - (before[i] ?? 0), 0) / 100
  const rss = await Promise.all(pids.map(rssMb))
  const sum = rss.reduce((a, b) => a + b, 0)
  return { cores: used / seconds, machineBusy: 1 - (m1.idle - m0.idle) / (m1.total - m0.total), rss: { median: median(rss), mean: sum / rss.length, min: Math.min(...rss), max: Math.max(...rss), sum } }
}

async function saveLogs (hosts: Host[], dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  for (const h of hosts) await writeFile(join(dir, `${h.label}.log`), h.output)
}

await runBench(main)
