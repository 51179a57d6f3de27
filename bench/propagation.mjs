#!/usr/bin/env node
// bench/propagation: N node processes on loopback under one swarm key. Measures the time from a
// store write on one node (POST /api/v1/crdt) to its arrival on every other node (their
// /api/v1/events streams), p50/p95 over W writes, and the RSS of each idle node.
// Every record is signed by its writer and verified by each receiver: the cost per record of
// both is measured in-process (the same code the nodes run) and printed beside the figures.
// Usage: node bench/propagation.mjs [--nodes 10] [--writes 50]
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { followStoreEvents } from './lib/bench.mjs'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '10' }, writes: { type: 'string', default: '50' } } })
const N = Number(values.nodes)
const W = Number(values.writes)
const TARGET_P95_MS = 500
const TARGET_RSS_MB = 150
const BIN = resolve(import.meta.dirname, '../bin/distromash')
const sleep = ms => new Promise(r => setTimeout(r, ms))

async function freePort () {
  return new Promise(res => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)) }) })
}

async function startNode (dir, i, swarmKey, peerstore) {
  const [api, swarm] = [await freePort(), await freePort()]
  const args = ['node', '--data-dir', join(dir, `n${i}`), '--api-port', String(api), '--swarm-listen', `/ip4/127.0.0.1/tcp/${swarm}`,
    '--registry-port', String(await freePort()), '--swarm-key', swarmKey, '--peerstore', peerstore, '--log-level', 'warn']
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', d => { out += d })
  for (let t = 0; t < 1200 && !/^api: /m.test(out); t++) await sleep(100)
  const peerId = /^peer id: (\S+)/m.exec(out)?.[1]
  if (peerId == null) throw new Error(`node ${i} did not start: ${out}`)
  return { i, child, peerId, url: `http://127.0.0.1:${api}`, addr: `/ip4/127.0.0.1/tcp/${swarm}/p2p/${peerId}` }
}

/** Follow a node's event stream; calls onKey(key, time) for every store change */
const follow = async (node, onKey, signal) => { await followStoreEvents(node.url, onKey, signal) }

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)] }
const rssMb = async pid => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))[1]) / 1024

/** Sign+apply on a writer, verify+apply on a receiver, per record (median of 5 rounds of 500) */
async function signingCost () {
  const { MemoryStore } = await import('../packages/p2pcomm/dist/index.js')
  const rounds = { sign: [], verify: [] }
  for (let r = 0; r < 5; r++) {
    const writer = await MemoryStore.create()
    const receiver = await MemoryStore.create()
    let t = performance.now()
    for (let i = 0; i < 500; i++) await writer.put(`status/x/${i}`, { image: 'busybox:1.35.0', state: 'loaded', updatedAt: new Date().toISOString(), i })
    rounds.sign.push((performance.now() - t) * 1000 / 500)
    const records = writer.since(0, Infinity)
    t = performance.now()
    for (const { bytes } of records) if (!(await receiver.receive(bytes)).applied) throw new Error('a valid record was refused')
    rounds.verify.push((performance.now() - t) * 1000 / 500)
  }
  return { sign: pct(rounds.sign, 50), verify: pct(rounds.verify, 50), spread: [Math.min(...rounds.verify), Math.max(...rounds.verify)] }
}

const dir = await mkdtemp(join(tmpdir(), 'dm-bench-prop-'))
const nodes = []
const abort = new AbortController()
try {
  const swarmKey = join(dir, 'swarm.key')
  await writeFile(swarmKey, await new Promise(res => { let o = ''; const c = spawn(BIN, ['swarm-key']); c.stdout.on('data', d => { o += d }); c.on('exit', () => res(o)) }))
  nodes.push(await startNode(dir, 0, swarmKey, join(dir, 'none')))
  const peerstore = join(dir, 'peerstore')
  await writeFile(peerstore, nodes[0].addr + '\n')
  // start in small batches: a node spends ~2 s of CPU loading its modules, and this host has 2 cores
  for (let k = 1; k < N; k += 4) {
    const batch = Array.from({ length: Math.min(4, N - k) }, (_, j) => startNode(dir, k + j, swarmKey, peerstore))
    nodes.push(...await Promise.all(batch))
  }
  console.log(`${N} nodes started; waiting for the mesh to form`)
  const deadline = Date.now() + 120_000
  const seen = new Map()
  for (const node of nodes) {
    while (Date.now() < deadline) {
      const peers = await (await fetch(`${node.url}/api/v1/peers`)).json()
      seen.set(node.i, peers.filter(p => !p.self && p.live).length)
      if (seen.get(node.i) >= N - 1) break
      await sleep(200)
    }
  }
  const short = [...seen].filter(([, n]) => n < N - 1)
  for (const [i] of short) {
    const peers = await (await fetch(`${nodes[i].url}/api/v1/peers`)).json()
    const missing = nodes.filter(n => n.i !== i && !peers.some(p => p.id === n.peerId && p.live))
    console.error(`node ${i} lacks: ${missing.map(n => { const p = peers.find(q => q.id === n.peerId); return `node ${n.i} ${p == null ? 'unknown' : `connected=${p.connected} lastSeen=${p.lastSeen}`}` }).join('; ')}`)
  }
  if (short.length > 0) throw new Error(`mesh incomplete after 120 s: ${short.map(([i, n]) => `node ${i} sees ${n}/${N - 1}`).join(', ')}`)
  console.log(`every node sees the other ${N - 1} as live`)
  await sleep(3000) // let gossipsub build its mesh (heartbeats)

  const arrivals = new Map() // key -> Map(nodeIndex -> time)
  for (const node of nodes) {
    await follow(node, (key, time) => {
      if (!arrivals.has(key)) arrivals.set(key, new Map())
      arrivals.get(key).set(node.i, time)
    }, abort.signal)
  }
  const allDelivery = []
  const perDelivery = []
  for (let w = 0; w < W; w++) {
    const writer = nodes[w % N]
    const key = `bench/${w}`
    const t0 = performance.now()
    const res = await fetch(`${writer.url}/api/v1/crdt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key, value: { w, at: Date.now() } }) })
    if (res.status !== 201) throw new Error(`write failed: ${res.status}`)
    for (let t = 0; t < 500 && (arrivals.get(key)?.size ?? 0) < N; t++) await sleep(2)
    const seen = arrivals.get(key) ?? new Map()
    if (seen.size < N) throw new Error(`${key} reached ${seen.size - 1}/${N - 1} other nodes within 1 s`)
    const times = [...seen].filter(([i]) => i !== writer.i).map(([, t]) => t - t0)
    perDelivery.push(...times)
    allDelivery.push(Math.max(...times))
    await sleep(50)
  }
  await sleep(5000) // idle
  const rss = await Promise.all(nodes.map(n => rssMb(n.child.pid)))

  const p50 = pct(allDelivery, 50); const p95 = pct(allDelivery, 95)
  const ok = (v, t) => (v <= t ? 'PASS' : 'FAIL')
  console.log(`\nbench/propagation — ${N} nodes on loopback, ${W} writes (round-robin writers)`)
  console.log('metric                                   measured     target')
  console.log(`write → visible on all others, p50      ${p50.toFixed(1).padStart(8)} ms`)
  console.log(`write → visible on all others, p95      ${p95.toFixed(1).padStart(8)} ms   < ${TARGET_P95_MS} ms  ${ok(p95, TARGET_P95_MS)}`)
  console.log(`write → visible on one other, p50/p95   ${pct(perDelivery, 50).toFixed(1)} / ${pct(perDelivery, 95).toFixed(1)} ms`)
  console.log(`idle RSS per node, max (mean)           ${Math.max(...rss).toFixed(1).padStart(8)} MB   < ${TARGET_RSS_MB} MB  ${ok(Math.max(...rss), TARGET_RSS_MB)}   (${(rss.reduce((a, b) => a + b, 0) / N).toFixed(1)} MB mean)`)
  console.log(`idle RSS per node: ${rss.map(r => r.toFixed(0)).join(' ')} MB`)
  const cost = await signingCost()
  console.log(`per record: sign + apply ${cost.sign.toFixed(0)} µs on the writer; verify + apply ${cost.verify.toFixed(0)} µs on each receiver (range ${cost.spread.map(v => v.toFixed(0)).join('–')} µs)`)
} finally {
  abort.abort()
  for (const n of nodes) n.child.kill('SIGTERM')
  await sleep(1500)
  for (const n of nodes) n.child.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true })
}
