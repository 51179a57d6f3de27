#!/usr/bin/env node
// bench/transfer: how fast, and at what CPU cost, one node fetches an image from another, against
// skopeo copying the same image from docker-registry over plain HTTP (issue 15).
// Two DistroMash nodes on loopback, private network on (a swarm key): the seed imports a random
// image (≥ 256 MiB) from docker-registry; each mesh run starts a fresh puller (empty data dir,
// bootstrapped to the seed), warms it with a 16 MiB image fetched the same way (V8 optimises the
// fetch path once per process; a node that has been up does not pay that per image: --cold skips
// the warm-up) and assigns it the image with a target strategy. No Docker: the time runs from the
// strategy's POST to the puller's cell reading `pinned`. Each skopeo run copies the same image
// `docker://docker-registry oci:<fresh dir>`. Each floor run writes the image's size to a new file
// with dd: what writing the bytes costs this machine, which every contender pays once. They
// alternate (ABBA…), R runs each, each after the memory freed by the run before has settled
// (settleMemory: this VM charges ~4 CPU-s per GiB for first writes to memory it gave back).
// Prints medians and spread, the speed ratio (skopeo time / mesh time, target ≥ 0.8×) and the
// mesh's CPU-seconds per GiB moved (seed + puller, from /proc, target ≤ 6), skopeo's beside it.
// --profile: both nodes run with --cpu-prof; prints the top functions by self time of each side and
// who called the heaviest (--profile-dir DIR: the same, the profiles kept in DIR).
// --perf DIR: `perf record -g` of seed and puller during each timed mesh run (kernel and native
// frames too: page faults, copies into the page cache, the ciphers), one file per run in DIR.
// Needs /usr/bin/docker-registry, skopeo and a build (`npx tsc -b`).
//
// Makefile:
//   bench-transfer: build
//   	node bench/transfer.mjs
// --baseline DIR: another checkout, built (e.g. `git worktree add DIR HEAD~1`, `npm ci`, `npx tsc -b`
// there): its own seed and pullers run interleaved with this build's and skopeo, and the medians
// of both builds are printed side by side (a change measured against its parent in one run).
// --timeline: the rate and the cores both nodes use in the middle of each mesh run.
// --kubo: Kubo doing the same job in the same rounds (kuboSeed, below), the reference IPFS peer.
// Also printed: the work the protocols require per GiB (lib/required-work.mjs), against the target.
// Usage: node bench/transfer.mjs [--runs 5] [--layers 6] [--layer-mib 48] [--profile] [--profile-dir DIR] [--baseline DIR] [--no-pnet] [--cold] [--perf DIR] [--puller-log info] [--timeline] [--kubo]
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  BIN, MiB, cpuSeconds, describe, importImage, loadAverage, median, mkdirp, pushRandomImage, requireBinaries, runBench, sh, sleep, startPerf,
  startDockerRegistry, startKubo, startNode, tempDir, timed
} from './lib/bench.mjs'
import { printProfile } from './lib/profile.mjs'
import { requiredWork } from './lib/required-work.mjs'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' }, layers: { type: 'string', default: '6' }, 'layer-mib': { type: 'string', default: '48' },
    profile: { type: 'boolean', default: false }, cold: { type: 'boolean', default: false }, perf: { type: 'string' }, 'profile-dir': { type: 'string' }, baseline: { type: 'string' }, 'no-pnet': { type: 'boolean', default: false }, 'puller-log': { type: 'string', default: 'warn' }, timeline: { type: 'boolean', default: false }, kubo: { type: 'boolean', default: false }
  }
})
const RUNS = Number(values.runs)
const SPEED_TARGET = 0.8
const CPU_TARGET = 6
const REPO = 'bench/transfer'
const WARMUP_REPO = 'bench/warmup'
const TAG = 'v1'
const GiB = 1024 * MiB

await runBench(async () => {
  requireBinaries('/usr/bin/docker-registry', '/usr/bin/skopeo')
  console.log(`load average at start: ${await loadAverage()}`)
  const dir = await tempDir('dm-bench-transfer-')
  const upstream = await startDockerRegistry()
  const image = await pushRandomImage(upstream.url, REPO, TAG, { layers: Number(values.layers), layerMiB: Number(values['layer-mib']) })
  console.log(`image ${REPO}:${TAG}: ${image.layers} random layers, ${(image.size / MiB).toFixed(1)} MiB`)
  // a puller fetches this one first, so the timed fetch runs on code V8 has already optimised, as
  // on a node that has been up for a while (--cold: a fresh process's first fetch, JIT included)
  if (!values.cold) await pushRandomImage(upstream.url, WARMUP_REPO, TAG, { layers: 2, layerMiB: 8 })

  const swarmKey = join(dir, 'swarm.key')
  await writeFile(swarmKey, await sh(BIN, ['swarm-key']) + '\n')
  const keyArgs = values['no-pnet'] ? [] : ['--swarm-key', swarmKey]
  // --profile-dir keeps the profiles after the run (`node bench/lib/profile.mjs DIR` summarises them again)
  const profileRoot = values['profile-dir'] ?? dir
  const profiles = { seed: await mkdirp(join(profileRoot, 'prof-seed')), puller: await mkdirp(join(profileRoot, 'prof-puller')) }
  if (values.perf != null) await mkdirp(values.perf)
  const profileFlags = side => [
    ...values.profile || values['profile-dir'] != null ? ['--cpu-prof', `--cpu-prof-dir=${profiles[side]}`] : [],
    // perf names JIT-compiled JavaScript from /tmp/perf-<pid>.map (V8's own log, which the flag
    // also turns on, goes to DIR rather than the working directory)
    ...values.perf != null ? ['--perf-basic-prof', '--interpreted-frames-native-stack', `--logfile=${resolve(values.perf, 'v8.log')}`] : []
  ]
  // the build under test, and with --baseline another checkout's (its own seed and pullers), run interleaved
  const builds = [{ name: 'mesh', bin: BIN }, ...(values.baseline != null ? [{ name: 'base', bin: resolve(values.baseline, 'bin/distromash') }] : [])]
  for (const build of builds) {
    build.seed = await startNode({ bin: build.bin, dataDir: await mkdirp(join(dir, `seed-${build.name}`)), upstream: upstream.url, args: keyArgs, nodeFlags: build.name === 'mesh' ? profileFlags('seed') : [] })
    const { ms: importMs, result: imported } = await timed(async () => importImage(build.seed, REPO, TAG))
    if (!values.cold) await importImage(build.seed, WARMUP_REPO, TAG)
    console.log(`imported into the ${build.name} seed${build.name === 'base' ? ` (${values.baseline})` : ''} in ${(importMs / 1000).toFixed(2)} s: ${imported.cid}; private network ${values['no-pnet'] ? 'off' : 'on'}`)
    build.peerstore = join(dir, `peerstore-${build.name}`)
    await writeFile(build.peerstore, build.seed.multiaddr + '\n')
  }

  const kubo = values.kubo ? await kuboSeed(upstream, swarmKey, dir) : undefined
  const contenders = [...builds.map(b => b.name), 'skopeo', 'floor', ...(kubo != null ? ['kubo'] : [])]
  const runs = Object.fromEntries(contenders.map(c => [c, []]))
  const cpu = Object.fromEntries(contenders.map(c => [c, []]))
  const work = []
  for (let i = 0; i < RUNS; i++) {
    // each round runs every contender once, in the reverse order of the round before (ABBA…)
    for (const which of i % 2 === 0 ? contenders : [...contenders].reverse()) {
      const build = builds.find(b => b.name === which)
      const r = build != null
        ? await meshRun(build, keyArgs, which === 'mesh' ? profileFlags('puller') : [], join(dir, `puller-${which}-${i}`))
        : which === 'skopeo' ? await skopeoRun(upstream, join(dir, `oci-${i}`))
          : which === 'kubo' ? await kuboRun(kubo, swarmKey, dir)
            : await writeFloorRun(image.size, join(dir, `floor-${i}`))
      runs[which].push(r.ms)
      cpu[which].push(r.cpuSeconds / (image.size / GiB))
      console.log(`  ${which.padEnd(6)} ${(r.ms / 1000).toFixed(2)} s  ${(image.size / MiB / (r.ms / 1000)).toFixed(0)} MiB/s  ${r.cpuSeconds.toFixed(1)} CPU-s (${(r.cpuSeconds / (image.size / GiB)).toFixed(1)} per GiB)`)
      if (which === 'floor') work.push(await requiredWork())
    }
  }
  for (const build of builds) await build.seed.stop()
  await kubo?.seed.stop()
  const speed = median(runs.skopeo) / median(runs.mesh)
  const meshCpu = median(cpu.mesh)
  console.log(`\nmesh   (seed → puller, to pinned): ${describe(runs.mesh)}; ${(image.size / MiB / (median(runs.mesh) / 1000)).toFixed(0)} MiB/s; CPU per GiB ${describeCpu(cpu.mesh)}`)
  if (runs.base != null) console.log(`base   (--baseline, the same):     ${describe(runs.base)}; ${(image.size / MiB / (median(runs.base) / 1000)).toFixed(0)} MiB/s; CPU per GiB ${describeCpu(cpu.base)}; mesh/base time ${(median(runs.mesh) / median(runs.base)).toFixed(2)}, CPU ${(meshCpu / median(cpu.base)).toFixed(2)}`)
  console.log(`skopeo (docker-registry → oci:):   ${describe(runs.skopeo)}; ${(image.size / MiB / (median(runs.skopeo) / 1000)).toFixed(0)} MiB/s`)
  console.log(`speed: mesh ${speed.toFixed(2)}× skopeo's (target ≥ ${SPEED_TARGET}×) ${speed >= SPEED_TARGET ? 'PASS' : 'FAIL'}${runs.base != null ? `; base ${(median(runs.skopeo) / median(runs.base)).toFixed(2)}×` : ''}`)
  console.log(`CPU per GiB moved: mesh ${meshCpu.toFixed(1)} s (seed + puller; min ${Math.min(...cpu.mesh).toFixed(1)}, max ${Math.max(...cpu.mesh).toFixed(1)}; target ≤ ${CPU_TARGET}) ${meshCpu <= CPU_TARGET ? 'PASS' : 'FAIL'}; skopeo + docker-registry ${median(cpu.skopeo).toFixed(1)} s`)
  const floor = median(cpu.floor)
  console.log(`floor: writing the image's bytes to a new file (dd, 256 KiB writes) costs ${describeCpu(cpu.floor)} CPU per GiB on this machine, which mesh and skopeo each pay once;`)
  console.log(`  above it: mesh ${(meshCpu - floor).toFixed(1)} s, skopeo + docker-registry ${(median(cpu.skopeo) - floor).toFixed(1)} s per GiB`)
  printRequiredWork(work, floor, meshCpu)
  if (kubo != null) console.log(`kubo → kubo (the same layout, bitswap, private network on): ${describe(runs.kubo)}; ${(median(runs.skopeo) / median(runs.kubo)).toFixed(2)}× skopeo's speed; CPU per GiB ${describeCpu(cpu.kubo)} (both daemons); mesh/kubo time ${(median(runs.mesh) / median(runs.kubo)).toFixed(2)}, CPU ${(meshCpu / median(cpu.kubo)).toFixed(2)}`)
  console.log(`load average at end: ${await loadAverage()}`)
  if (values.profile || values['profile-dir'] != null) {
    await printProfile(profiles.seed, 'seed (serving every mesh run, and its import)')
    await printProfile(profiles.puller, 'pullers (every mesh run, from start to stop)')
  }
})

/**
 * What the protocols alone cost per GiB (lib/required-work.mjs, hot loops: a lower bound), with the
 * write floor: how much of the CPU target is left to libp2p's stream layers, the exchange and V8
 */
function printRequiredWork (work, floor, meshCpu) {
  const totals = work.map(w => w.total)
  const parts = Object.keys(work[0].parts).map(name => `${name} ${median(work.map(w => w.parts[name])).toFixed(2)}`).join(', ')
  const required = median(totals) + floor
  console.log(`required work: ${describeCpu(totals)} CPU per GiB in hot loops (${parts}); with the write floor ${required.toFixed(1)} s:`)
  console.log(`  the target leaves ${(CPU_TARGET - required).toFixed(1)} s per GiB for everything else, where the mesh spends ${(meshCpu - required).toFixed(1)} s`)
}

/**
 * --timeline: every 100 ms, the bytes the puller has read (sockets and files) and the CPU of both
 * nodes; stop() tells the rate and the cores in use while the middle of the transfer ran (from a
 * tenth of the image read to nine tenths): whether the nodes were waiting or busy
 */
function sampleTimeline (seedPid, pullerPid) {
  const read = () => ioBytes(pullerPid).rchar
  const cpuNow = () => cpuSeconds(seedPid) + cpuSeconds(pullerPid)
  const samples = [{ at: performance.now(), read: read(), cpu: cpuNow() }]
  const timer = setInterval(() => { samples.push({ at: performance.now(), read: read(), cpu: cpuNow() }) }, 100)
  return {
    stop () {
      clearInterval(timer)
      const base = samples[0]
      const moved = samples.at(-1).read - base.read
      const from = samples.find(s => s.read - base.read >= moved / 10) ?? base
      const to = samples.findLast(s => s.read - base.read <= moved * 9 / 10) ?? samples.at(-1)
      const seconds = (to.at - from.at) / 1000
      if (seconds <= 0) return 'timeline: too short to tell'
      return `timeline, middle of the transfer: ${((to.read - from.read) / MiB / seconds).toFixed(0)} MiB/s, both nodes ${((to.cpu - from.cpu) / seconds).toFixed(2)} cores; first bytes after ${(((samples.find(s => s.read > base.read + MiB) ?? base).at - base.at) / 1000).toFixed(1)} s`
    }
  }
}

/** CPU-s per GiB: median (min–max) */
function describeCpu (values) {
  return `${median(values).toFixed(1)} s (${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)})`
}

/**
 * Waits until the memory freed by the previous run (its deleted files' page cache) has gone back
 * to the hypervisor. This VM's balloon reports free pages to the host (virtio-balloon free page
 * reporting, 2 s after they are freed), and the first write to a reported page costs the guest
 * ~15 µs (a host fault): ~4 CPU-s per GiB of new file data, against ~0.2 on pages still held. A
 * run starting right after another's cleanup would write into held pages and look cheap, so
 * every contender starts from the same state: everything reported, as on a host whose pulls are
 * seconds apart or more.
 */
async function settleMemory () {
  await sleep(5000)
}

/** The floor: CPU to write the image's bytes to a new file, the one thing every contender does */
async function writeFloorRun (bytes, out) {
  await settleMemory()
  const run = await timedCommand('dd', ['if=/dev/zero', `of=${out}`, 'bs=256K', `count=${Math.ceil(bytes / (256 * 1024))}`, 'status=none'], `${out}.time`)
  await rm(out, { force: true })
  return run
}

/** Runs a command under time(1): its wall time and its own CPU seconds (user + system) */
async function timedCommand (cmd, args, timesFile) {
  const t0 = performance.now()
  await new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-o', timesFile, '-f', '%U %S', cmd, ...args], { stdio: 'inherit' })
    child.once('exit', code => { code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`)) })
  })
  const ms = performance.now() - t0
  const [user, system] = (await readFile(timesFile, 'utf8')).trim().split('\n').at(-1).split(' ').map(Number)
  return { ms, cpuSeconds: user + system }
}

/** A fresh puller assigned the image by a target strategy: time and CPU from the POST to `pinned` */
async function meshRun ({ seed, peerstore, bin }, keyArgs, nodeFlags, dataDir) {
  const puller = await startNode({ bin, dataDir: await mkdirp(dataDir), args: [...keyArgs, '--peerstore', peerstore], nodeFlags, logLevel: values['puller-log'] })
  await until(`the seed lists the puller as live`, async () => (await api(seed, '/api/v1/peers')).some(p => p.id === puller.peerId && p.live))
  if (!values.cold) await assignAndWait(seed, puller, `${WARMUP_REPO}:${TAG}`)
  await settleMemory()
  const perf = values.perf == null ? undefined : startPerf(['-p', `${seed.pid},${puller.pid}`], join(await mkdirp(values.perf), `${basename(dataDir)}.data`))
  // read before the clock starts: a /metrics request costs the puller CPU too
  const stages0 = await stages(puller)
  const cpu0 = cpuSeconds(seed.pid) + cpuSeconds(puller.pid)
  const threads0 = { seed: cpuByThread(seed.pid), puller: cpuByThread(puller.pid) }
  const io0 = { seed: ioBytes(seed.pid), puller: ioBytes(puller.pid) }
  const t0 = performance.now()
  const timeline = values.timeline ? sampleTimeline(seed.pid, puller.pid) : undefined
  const phases = await assignAndWait(seed, puller, `${REPO}:${TAG}`)
  const ms = phases.at(-1).at - t0
  if (timeline != null) console.log(`    ${timeline.stop()}`)
  await perf?.stop()
  console.log(`    puller by state: ${phases.slice(0, -1).map((p, i) => `${p.state} ${((phases[i + 1].at - p.at) / 1000).toFixed(2)} s ${(phases[i + 1].cpu - p.cpu).toFixed(2)} CPU-s`).join(', ')}; ${describeStages(stages0, await stages(puller))}`)
  const cpuSecondsUsed = cpuSeconds(seed.pid) + cpuSeconds(puller.pid) - cpu0
  const threads = { seed: threadDelta(threads0.seed, cpuByThread(seed.pid)), puller: threadDelta(threads0.puller, cpuByThread(puller.pid)) }
  for (const side of ['seed', 'puller']) {
    const io = ioBytes(side === 'seed' ? seed.pid : puller.pid)
    const mib = key => ((io[key] - io0[side][key]) / MiB).toFixed(0)
    console.log(`    ${side} CPU-s by thread: ${threads[side]}; read ${mib('rchar')} MiB, wrote ${mib('wchar')} MiB (syscalls, files and sockets)`)
  }
  await puller.stop()
  await rm(dataDir, { recursive: true, force: true })
  return { ms, cpuSeconds: cpuSecondsUsed }
}

/**
 * Assigns `nametag` to the puller with a target strategy and waits for its cell to read `pinned`;
 * returns the puller's CPU in each state its cell passed through (fetching: blocks arriving; pinning).
 * The strategy is deleted once pinned: the next puller is another peer.
 */
async function assignAndWait (seed, puller, nametag) {
  const strategy = await api(seed, '/api/v1/strategy', { method: 'POST', body: { type: 'target', nametag, target: puller.peerId, execute: true } })
  const phases = []
  await until(`the puller pinned ${nametag}`, async () => {
    const cell = (await api(puller, '/api/v1/replication')).cells.find(c => c.peerId === puller.peerId && c.image === nametag)
    if (cell?.state === 'failed') throw new Error(`replication failed: ${cell.error}`)
    const state = cell?.state ?? 'unassigned'
    if (phases.at(-1)?.state !== state) phases.push({ state, at: performance.now(), cpu: cpuSeconds(puller.pid) })
    return state === 'pinned'
    // every 25 ms: each poll costs the puller an API request (at 10 ms, ~0.1 CPU-s of a 3 s run)
  }, 25)
  await api(seed, `/api/v1/strategy/${encodeURIComponent(strategy.key)}`, { method: 'DELETE' })
  return phases
}

/** The puller's own counters of its replication stages (fetch: blocks from peers; pin), from its /metrics */
async function stages (node) {
  const text = await (await fetch(`${node.api}/metrics`)).text()
  const sum = (name, ...labels) => text.split('\n').filter(l => l.startsWith(`${name}{`) && labels.every(label => l.includes(label))).reduce((total, l) => total + Number(l.split(' ').at(-1)), 0)
  const seconds = stage => sum('distromash_replication_duration_seconds_sum', `stage="${stage}"`, 'outcome="ok"')
  return {
    fetch: seconds('fetch'),
    pin: seconds('pin'),
    received: sum('distromash_block_exchange_bytes_total', 'direction="received"'),
    bitswap: sum('distromash_bitswap_bytes_total', 'direction="received"'),
    failed: sum('distromash_failures_total', 'kind="block_request"')
  }
}

/** What the counters moved by in a run. More bytes received than the image's, failed requests or
 * bitswap bytes: blocks sent twice, retries, fallbacks */
function describeStages (before, after) {
  const d = key => after[key] - before[key]
  return `fetch ${d('fetch').toFixed(2)} s, pin ${d('pin').toFixed(2)} s; received ${(d('received') / MiB).toFixed(1)} MiB, bitswap ${(d('bitswap') / MiB).toFixed(1)} MiB, failed requests ${d('failed')}`
}

/** skopeo copy of the same image; CPU is skopeo's (from time(1)) and docker-registry's */
async function skopeoRun (upstream, out) {
  await settleMemory()
  const registry0 = cpuSeconds(upstream.pid)
  const run = await timedCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${upstream.host}/${REPO}:${TAG}`, `oci:${out}:${TAG}`], `${out}.time`)
  const cpu = run.cpuSeconds + cpuSeconds(upstream.pid) - registry0
  await rm(out, { recursive: true, force: true })
  return { ms: run.ms, cpuSeconds: cpu }
}

/**
 * --kubo: the reference IPFS implementation doing the same job. A Kubo daemon in the same private
 * network (the bench's swarm key) holds the image as the OCI layout skopeo writes, added with the
 * flags that give our CIDs (`--cid-version=1 --raw-leaves`); each run starts a fresh Kubo, connects
 * it to that one and times `ipfs pin add` of the layout (bitswap), CPU of both daemons from /proc.
 */
async function kuboSeed (upstream, swarmKey, dir) {
  await sh('ipfs', ['version']).catch(() => { throw new Error('--kubo needs Kubo\'s ipfs on PATH (scripts/install-kubo.sh)') })
  const layout = join(dir, 'oci-for-kubo')
  await sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${upstream.host}/${REPO}:${TAG}`, `oci:${layout}:${TAG}`])
  const seed = await startKubo({ base: dir, swarmKey: values['no-pnet'] ? undefined : swarmKey })
  const cid = await sh('ipfs', ['add', '-r', '-Q', '--cid-version=1', '--raw-leaves', layout], { env: seed.env })
  await rm(layout, { recursive: true, force: true })
  console.log(`added to a Kubo seed: ${cid}; private network ${values['no-pnet'] ? 'off' : 'on'}`)
  return { seed, cid }
}

async function kuboRun ({ seed, cid }, swarmKey, dir) {
  const puller = await startKubo({ base: dir, swarmKey: values['no-pnet'] ? undefined : swarmKey })
  try {
    await sh('ipfs', ['swarm', 'connect', seed.swarm], { env: puller.env })
    await settleMemory()
    const cpu0 = cpuSeconds(seed.pid) + cpuSeconds(puller.pid)
    const { ms } = await timed(async () => await sh('ipfs', ['pin', 'add', '--progress=false', cid], { env: puller.env }))
    return { ms, cpuSeconds: cpuSeconds(seed.pid) + cpuSeconds(puller.pid) - cpu0 }
  } finally {
    await puller.stop()
    await rm(puller.repo, { recursive: true, force: true })
  }
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
      byName.set(`${name} user`, (byName.get(`${name} user`) ?? 0) + Number(fields[11]) / 100)
      byName.set(`${name} sys`, (byName.get(`${name} sys`) ?? 0) + Number(fields[12]) / 100)
    } catch {} // the thread ended meanwhile
  }
  return byName
}

/** Bytes a process passed to read- and write-like syscalls (files and sockets), from /proc/<pid>/io */
function ioBytes (pid) {
  return Object.fromEntries(readFileSync(`/proc/${pid}/io`, 'utf8').trim().split('\n').map(l => l.split(': ')).map(([k, v]) => [k, Number(v)]))
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
