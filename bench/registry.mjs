#!/usr/bin/env node
// bench/registry: `docker pull` of one image of random layers (≥ 256 MiB) from a DistroMash node's
// registry vs from Debian's docker-registry serving the same image, same run. docker-registry is
// also the upstream the node imports from. A private dockerd (own data root, exec root, pid file
// and socket; --bridge=none --iptables=false) pulls; every image and layer is removed before each
// pull so each one is cold. The two registries alternate (ABBA…), R runs each; prints medians,
// spread and the speed ratio (docker-registry time / our time) against the target (≥ 0.9×).
// --kubo: a third contender, the same image through a second node in Kubo sidecar mode
// (`--ipfs-api`, its blocks in its own Kubo daemon), pulled in the same alternation; its server CPU
// is the node's and its Kubo's together.
// Needs root (dockerd), /usr/bin/docker-registry and a build (`npx tsc -b`); --kubo needs Kubo's `ipfs`.
//
// Makefile:
//   bench-registry: build
//   	node bench/registry.mjs
// Usage: node bench/registry.mjs [--kubo] [--runs 5] [--layers 6] [--layer-mib 48] [--node-flags="--cpu-prof --cpu-prof-dir=DIR"]
import { parseArgs } from 'node:util'
import {
  MiB, cpuSeconds, describe, importImage, loadAverage, median, pushRandomImage, requireBinaries, runBench, startDockerRegistry, startDockerd,
  startKubo, startNode, tempDir, timed
} from './lib/bench.mjs'

const { values } = parseArgs({ options: { kubo: { type: 'boolean', default: false }, runs: { type: 'string', default: '5' }, layers: { type: 'string', default: '6' }, 'layer-mib': { type: 'string', default: '48' }, 'node-flags': { type: 'string', default: '' } } })
const NODE_FLAGS = values['node-flags'].split(' ').filter(Boolean) // e.g. "--cpu-prof --cpu-prof-dir=bench/out"
const RUNS = Number(values.runs)
const TARGET = 0.9
const REPO = 'bench/random'
const TAG = 'v1'

await runBench(async () => {
  requireBinaries('/usr/bin/docker-registry', '/usr/sbin/dockerd')
  console.log(`load average at start: ${await loadAverage()}`)
  const upstream = await startDockerRegistry()
  const image = await pushRandomImage(upstream.url, REPO, TAG, { layers: Number(values.layers), layerMiB: Number(values['layer-mib']) })
  console.log(`image ${REPO}:${TAG}: ${image.layers} random layers, ${(image.size / MiB).toFixed(1)} MiB, ${image.digest}`)

  const node = await startNode({ dataDir: await tempDir('dm-bench-node-'), upstream: upstream.url, nodeFlags: NODE_FLAGS })
  const imported = await timed(async () => importImage(node, REPO, TAG))
  console.log(`imported into the node in ${(imported.ms / 1000).toFixed(2)} s: ${imported.result.cid}`)

  const contenders = ['docker-registry', 'distromash']
  const sources = {
    'docker-registry': `${upstream.host}/${REPO}:${TAG}`,
    distromash: `${node.registry}/${REPO}:${TAG}`
  }
  const pids = { 'docker-registry': [upstream.pid], distromash: [node.pid] }
  if (values.kubo) {
    const kubo = await startKubo()
    const sidecar = await startNode({ dataDir: await tempDir('dm-bench-sidecar-'), upstream: upstream.url, nodeFlags: NODE_FLAGS, args: ['--ipfs-api', kubo.api] })
    const { ms } = await timed(async () => importImage(sidecar, REPO, TAG))
    console.log(`imported into the sidecar node (Kubo ${kubo.api}) in ${(ms / 1000).toFixed(2)} s`)
    contenders.push('kubo sidecar')
    sources['kubo sidecar'] = `${sidecar.registry}/${REPO}:${TAG}`
    pids['kubo sidecar'] = [sidecar.pid, kubo.pid]
  }
  const engine = await startDockerd()
  const times = Object.fromEntries(contenders.map(c => [c, []]))
  const cpu = Object.fromEntries(contenders.map(c => [c, []]))
  const cpuOf = which => pids[which].reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  const pull = async (which) => {
    await engine.clean()
    const cpu0 = cpuOf(which)
    const { ms } = await timed(async () => engine.docker('pull', '-q', sources[which]))
    cpu[which].push(cpuOf(which) - cpu0)
    const digest = await engine.docker('image', 'inspect', '--format', '{{index .RepoDigests 0}}', sources[which])
    if (!digest.endsWith(image.digest)) throw new Error(`${which}: pulled ${digest}, expected ${image.digest}`)
    times[which].push(ms)
    console.log(`  ${which.padEnd(16)} ${(ms / 1000).toFixed(2)} s  ${(image.size / MiB / (ms / 1000)).toFixed(0)} MiB/s  server CPU ${cpu[which].at(-1).toFixed(2)} s  (load ${await loadAverage()})`)
  }
  // one warm-up pull of each (first-touch costs: dockerd's caches, the node's JIT), not counted
  for (const which of contenders) { await engine.clean(); await engine.docker('pull', '-q', sources[which]) }
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 === 0 ? contenders : [...contenders].reverse()
    for (const which of order) await pull(which)
  }
  await engine.clean()

  const theirs = median(times['docker-registry'])
  const ours = median(times.distromash)
  const ratio = theirs / ours
  console.log(`\nbench/registry — docker pull of ${(image.size / MiB).toFixed(0)} MiB (${image.layers} layers), ${RUNS} cold pulls each, alternating`)
  console.log(`docker-registry  ${describe(times['docker-registry'])}  ${(image.size / MiB / (theirs / 1000)).toFixed(0)} MiB/s  server CPU median ${median(cpu['docker-registry']).toFixed(2)} s`)
  console.log(`distromash       ${describe(times.distromash)}  ${(image.size / MiB / (ours / 1000)).toFixed(0)} MiB/s  server CPU median ${median(cpu.distromash).toFixed(2)} s`)
  if (values.kubo) {
    const sidecar = median(times['kubo sidecar'])
    console.log(`kubo sidecar     ${describe(times['kubo sidecar'])}  ${(image.size / MiB / (sidecar / 1000)).toFixed(0)} MiB/s  server CPU median ${median(cpu['kubo sidecar']).toFixed(2)} s (node + Kubo)  ratio ${(theirs / sidecar).toFixed(2)}× docker-registry`)
  }
  console.log(`speed ratio (docker-registry time / distromash time): ${ratio.toFixed(2)}×   target ≥ ${TARGET}×   ${ratio >= TARGET ? 'PASS' : 'FAIL'}`)
  console.log(`load average at end: ${await loadAverage()}`)
  return ratio >= TARGET ? 0 : 3
})
