#!/usr/bin/env node
// bench/transfer: how fast, and at what CPU cost, one node fetches an image from another, against
// skopeo copying the same image from docker-registry over plain HTTP (issue 15).
// Two DistroMash nodes on loopback, private network on (a swarm key): the seed imports a random
// image (≥ 256 MiB) from docker-registry; each mesh run starts a fresh puller (empty data dir,
// bootstrapped to the seed) and assigns it the image with a target strategy. No Docker: the time
// runs from the strategy's POST to the puller's cell reading `pinned`. Each skopeo run copies the
// same image `docker://docker-registry oci:<fresh dir>`. The two alternate (ABBA…), R runs each.
// Prints medians and spread, the speed ratio (skopeo time / mesh time, target ≥ 0.8×) and the
// mesh's CPU-seconds per GiB moved (seed + puller, from /proc, target ≤ 6), skopeo's beside it.
// --profile: both nodes run with --cpu-prof; prints the top functions by self time of each side and
// who called the heaviest (--profile-dir DIR: the same, the profiles kept in DIR).
// Needs /usr/bin/docker-registry, skopeo and a build (`npx tsc -b`).
//
// Makefile:
//   bench-transfer: build
//   	node bench/transfer.mjs
// --baseline DIR: another checkout, built (e.g. `git worktree add DIR HEAD~1`, `npm ci`, `npx tsc -b`
// there): its own seed and pullers run interleaved with this build's and skopeo, and the medians
// of both builds are printed side by side (a change measured against its parent in one run).
// Usage: node bench/transfer.mjs [--runs 5] [--layers 6] [--layer-mib 48] [--profile] [--profile-dir DIR] [--baseline DIR] [--no-pnet] [--puller-log info]
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  BIN, MiB, cpuSeconds, describe, importImage, loadAverage, median, mkdirp, pushRandomImage, requireBinaries, runBench, sh, sleep,
  startDockerRegistry, startNode, tempDir, timed
} from './lib/bench.mjs'
import { printProfile } from './lib/profile.mjs'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' }, layers: { type: 'string', default: '6' }, 'layer-mib': { type: 'string', default: '48' },
    profile: { type: 'boolean', default: false }, 'profile-dir': { type: 'string' }, baseline: { type: 'string' }, 'no-pnet': { type: 'boolean', default: false }, 'puller-log': { type: 'string', default: 'warn' }
  }
})
const RUNS = Number(values.runs)
const SPEED_TARGET = 0.8
const CPU_TARGET = 6
const REPO = 'bench/transfer'
const TAG = 'v1'
const GiB = 1024 * MiB

await runBench(async () => {
  requireBinaries('/usr/bin/docker-registry', '/usr/bin/skopeo')
  console.log(`load average at start: ${await loadAverage()}`)
  const dir = await tempDir('dm-bench-transfer-')
  const upstream = await startDockerRegistry()
  const image = await pushRandomImage(upstream.url, REPO, TAG, { layers: Number(values.layers), layerMiB: Number(values['layer-mib']) })
  console.log(`image ${REPO}:${TAG}: ${image.layers} random layers, ${(image.size / MiB).toFixed(1)} MiB`)

  const swarmKey = join(dir, 'swarm.key')
  await writeFile(swarmKey, await sh(BIN, ['swarm-key']) + '\n')
  const keyArgs = values['no-pnet'] ? [] : ['--swarm-key', swarmKey]
  // --profile-dir keeps the profiles after the run (`node bench/lib/profile.mjs DIR` summarises them again)
  const profileRoot = values['profile-dir'] ?? dir
  const profiles = { seed: await mkdirp(join(profileRoot, 'prof-seed')), puller: await mkdirp(join(profileRoot, 'prof-puller')) }
  const profileFlags = side => values.profile || values['profile-dir'] != null ? ['--cpu-prof', `--cpu-prof-dir=${profiles[side]}`] : []
  // the build under test, and with --baseline another checkout's (its own seed and pullers), run interleaved
  const builds = [{ name: 'mesh', bin: BIN }, ...(values.baseline != null ? [{ name: 'base', bin: resolve(values.baseline, 'bin/distromash') }] : [])]
  for (const build of builds) {
    build.seed = await startNode({ bin: build.bin, dataDir: await mkdirp(join(dir, `seed-${build.name}`)), upstream: upstream.url, args: keyArgs, nodeFlags: build.name === 'mesh' ? profileFlags('seed') : [] })
    const { ms: importMs, result: imported } = await timed(async () => importImage(build.seed, REPO, TAG))
    console.log(`imported into the ${build.name} seed${build.name === 'base' ? ` (${values.baseline})` : ''} in ${(importMs / 1000).toFixed(2)} s: ${imported.cid}; private network ${values['no-pnet'] ? 'off' : 'on'}`)
    build.peerstore = join(dir, `peerstore-${build.name}`)
    await writeFile(build.peerstore, build.seed.multiaddr + '\n')
  }

  const contenders = [...builds.map(b => b.name), 'skopeo']
  const runs = Object.fromEntries(contenders.map(c => [c, []]))
  const cpu = Object.fromEntries(contenders.map(c => [c, []]))
  for (let i = 0; i < RUNS; i++) {
    // each round runs every contender once, in the reverse order of the round before (ABBA…)
    for (const which of i % 2 === 0 ? contenders : [...contenders].reverse()) {
      const build = builds.find(b => b.name === which)
      const r = build != null
        ? await meshRun(build, keyArgs, which === 'mesh' ? profileFlags('puller') : [], join(dir, `puller-${which}-${i}`))
        : await skopeoRun(upstream, join(dir, `oci-${i}`))
      runs[which].push(r.ms)
      cpu[which].push(r.cpuSeconds / (image.size / GiB))
      console.log(`  ${which.padEnd(6)} ${(r.ms / 1000).toFixed(2)} s  ${(image.size / MiB / (r.ms / 1000)).toFixed(0)} MiB/s  ${r.cpuSeconds.toFixed(1)} CPU-s (${(r.cpuSeconds / (image.size / GiB)).toFixed(1)} per GiB)`)
    }
  }
  for (const build of builds) await build.seed.stop()
  const speed = median(runs.skopeo) / median(runs.mesh)
  const meshCpu = median(cpu.mesh)
  console.log(`\nmesh   (seed → puller, to pinned): ${describe(runs.mesh)}; ${(image.size / MiB / (median(runs.mesh) / 1000)).toFixed(0)} MiB/s; CPU per GiB ${describeCpu(cpu.mesh)}`)
  if (runs.base != null) console.log(`base   (--baseline, the same):     ${describe(runs.base)}; ${(image.size / MiB / (median(runs.base) / 1000)).toFixed(0)} MiB/s; CPU per GiB ${describeCpu(cpu.base)}; mesh/base time ${(median(runs.mesh) / median(runs.base)).toFixed(2)}, CPU ${(meshCpu / median(cpu.base)).toFixed(2)}`)
  console.log(`skopeo (docker-registry → oci:):   ${describe(runs.skopeo)}; ${(image.size / MiB / (median(runs.skopeo) / 1000)).toFixed(0)} MiB/s`)
  console.log(`speed: mesh ${speed.toFixed(2)}× skopeo's (target ≥ ${SPEED_TARGET}×) ${speed >= SPEED_TARGET ? 'PASS' : 'FAIL'}${runs.base != null ? `; base ${(median(runs.skopeo) / median(runs.base)).toFixed(2)}×` : ''}`)
  console.log(`CPU per GiB moved: mesh ${meshCpu.toFixed(1)} s (seed + puller; min ${Math.min(...cpu.mesh).toFixed(1)}, max ${Math.max(...cpu.mesh).toFixed(1)}; target ≤ ${CPU_TARGET}) ${meshCpu <= CPU_TARGET ? 'PASS' : 'FAIL'}; skopeo + docker-registry ${median(cpu.skopeo).toFixed(1)} s`)
  console.log(`load average at end: ${await loadAverage()}`)
  if (values.profile || values['profile-dir'] != null) {
    await printProfile(profiles.seed, 'seed (serving every mesh run, and its import)')
    await printProfile(profiles.puller, 'pullers (every mesh run, from start to stop)')
  }
})

/** CPU-s per GiB: median (min–max) */
function describeCpu (values) {
  return `${median(values).toFixed(1)} s (${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)})`
}

/** A fresh puller assigned the image by a target strategy: time and CPU from the POST to `pinned` */
async function meshRun ({ seed, peerstore, bin }, keyArgs, nodeFlags, dataDir) {
  const puller = await startNode({ bin, dataDir: await mkdirp(dataDir), args: [...keyArgs, '--peerstore', peerstore], nodeFlags, logLevel: values['puller-log'] })
  await until(`the seed lists the puller as live`, async () => (await api(seed, '/api/v1/peers')).some(p => p.id === puller.peerId && p.live))
  const cpu0 = cpuSeconds(seed.pid) + cpuSeconds(puller.pid)
  const threads0 = { seed: cpuByThread(seed.pid), puller: cpuByThread(puller.pid) }
  const t0 = performance.now()
  const strategy = await api(seed, '/api/v1/strategy', { method: 'POST', body: { type: 'target', nametag: `${REPO}:${TAG}`, target: puller.peerId, execute: true } })
  // the puller's CPU in each state its cell passes through (fetching: blocks arriving; then pinning)
  const phases = []
  await until('the puller pinned the image', async () => {
    const cell = (await api(puller, '/api/v1/replication')).cells.find(c => c.peerId === puller.peerId)
    if (cell?.state === 'failed') throw new Error(`replication failed: ${cell.error}`)
    const state = cell?.state ?? 'unassigned'
    if (phases.at(-1)?.state !== state) phases.push({ state, at: performance.now(), cpu: cpuSeconds(puller.pid) })
    return state === 'pinned'
    // every 25 ms: each poll costs the puller an API request (at 10 ms, ~0.1 CPU-s of a 3 s run)
  }, 25)
  const ms = performance.now() - t0
  console.log(`    puller by state: ${phases.slice(0, -1).map((p, i) => `${p.state} ${((phases[i + 1].at - p.at) / 1000).toFixed(2)} s ${(phases[i + 1].cpu - p.cpu).toFixed(2)} CPU-s`).join(', ')}; ${await stages(puller)}`)
  const cpuSecondsUsed = cpuSeconds(seed.pid) + cpuSeconds(puller.pid) - cpu0
  const threads = { seed: threadDelta(threads0.seed, cpuByThread(seed.pid)), puller: threadDelta(threads0.puller, cpuByThread(puller.pid)) }
  for (const side of ['seed', 'puller']) console.log(`    ${side} CPU-s by thread: ${threads[side]}`)
  await api(seed, `/api/v1/strategy/${encodeURIComponent(strategy.key)}`, { method: 'DELETE' })
  await puller.stop()
  await rm(dataDir, { recursive: true, force: true })
  return { ms, cpuSeconds: cpuSecondsUsed }
}

/** The puller's own timing of its replication stages (fetch: blocks from peers; pin), from its /metrics */
async function stages (node) {
  const text = await (await fetch(`${node.api}/metrics`)).text()
  const seconds = stage => Number(text.split('\n').find(l => l.startsWith('distromash_replication_duration_seconds_sum{') && l.includes(`stage="${stage}"`) && l.includes('outcome="ok"'))?.split(' ').at(-1) ?? NaN)
  const counter = (name, label) => text.split('\n').filter(l => l.startsWith(`${name}{`) && l.includes(label)).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0)
  // more bytes received than the image's, failed requests or bitswap bytes: blocks sent twice, retries, fallbacks
  return `fetch ${seconds('fetch').toFixed(2)} s, pin ${seconds('pin').toFixed(2)} s; received ${(counter('distromash_block_exchange_bytes_total', 'direction="received"') / MiB).toFixed(1)} MiB, ` +
    `bitswap ${(counter('distromash_bitswap_bytes_total', 'direction="received"') / MiB).toFixed(1)} MiB, failed requests ${counter('distromash_failures_total', 'kind="block_request"')}`
}

/** skopeo copy of the same image; CPU is skopeo's (from time(1)) and docker-registry's */
async function skopeoRun (upstream, out) {
  const timesFile = `${out}.time`
  const registry0 = cpuSeconds(upstream.pid)
  const t0 = performance.now()
  await new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-o', timesFile, '-f', '%U %S', 'skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${upstream.host}/${REPO}:${TAG}`, `oci:${out}:${TAG}`], { stdio: 'inherit' })
    child.once('exit', code => { code === 0 ? resolve() : reject(new Error(`skopeo exited ${code}`)) })
  })
  const ms = performance.now() - t0
  const [user, system] = (await readFile(timesFile, 'utf8')).trim().split('\n').at(-1).split(' ').map(Number)
  const cpu = user + system + cpuSeconds(upstream.pid) - registry0
  await rm(out, { recursive: true, force: true })
  return { ms, cpuSeconds: cpu }
}

/** CPU seconds of a process's main thread and of its other threads, from /proc/<pid>/task */
function cpuByThread (pid) {
  const byName = new Map()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      // Node names no threads of its own: the main one (the event loop) against all the others
      // (libuv's pool: file I/O, hashing; V8's: GC, compilation)
      const name = Number(tid) === pid ? 'main' : 'others'
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
      byName.set(name, (byName.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100)
    } catch {} // the thread ended meanwhile
  }
  return byName
}

function threadDelta (before, after) {
  return [...after].map(([name, s]) => [name, s - (before.get(name) ?? 0)]).filter(([, s]) => s >= 0.05)
    .sort((a, b) => b[1] - a[1]).map(([name, s]) => `${name} ${s.toFixed(2)}`).join(', ')
}

async function api (node, path, { method = 'GET', body } = {}) {
  const res = await fetch(`${node.api}${path}`, { method, headers: body == null ? {} : { 'content-type': 'application/json' }, body: body == null ? undefined : JSON.stringify(body) })
  const text = await res.text()
  if (res.status >= 400) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`)
  return text === '' ? undefined : JSON.parse(text)
}

async function until (what, check, everyMs = 100, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(everyMs)
  }
}
