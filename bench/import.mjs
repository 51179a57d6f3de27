#!/usr/bin/env node
// bench/import: upstream → IPFS import of one single-platform image of random layers (≥ 256 MiB)
// by a DistroMash node (`POST /api/v1/image?wait=true`, a fresh node and data dir per run; the
// node's start is not timed) vs `skopeo copy docker://<upstream>/<image> oci:<fresh dir>` from the
// same Debian docker-registry. Alternating (ABBA…), R runs each; prints medians, spread and the
// speed ratio (skopeo time / our time) against the target (≥ 0.8×). The layers are uncompressed
// OCI tars; skopeo gets --dest-oci-accept-uncompressed-layers and --preserve-digests so it copies
// bytes as they are (otherwise it would gzip them, which is slower and not the same job).
// Beside them, as the reference an IPFS user knows: Kubo's own `ipfs add -r --cid-version=1` of
// the same OCI layout (written once by skopeo, read from the page cache: no network, so not a
// contender for the target), into a fresh Kubo repo per run, with the CID it gives checked to be ours.
// --kubo: one more contender, the same import by a node in Kubo sidecar mode (`--ipfs-api`, a
// fresh Kubo daemon and node per run, neither start timed): its blocks go into Kubo.
// Needs /usr/bin/docker-registry, /usr/bin/skopeo, Kubo's `ipfs` on PATH (scripts/install-kubo.sh)
// and a build (`npx tsc -b`).
//
// Makefile:
//   bench-import: build
//   	node bench/import.mjs
// Usage: node bench/import.mjs [--kubo] [--runs 5] [--layers 6] [--layer-mib 48] [--warm] [--node-flags="--cpu-prof --cpu-prof-dir=DIR"]
//        [--node-env NAME=VALUE ...]
// --warm: each fresh node first imports another, 32 MiB image (untimed), so the timed import runs
// on warmed-up code, as in a sidecar that has been up a while; the default measures a cold process.
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  MiB, describe, importImage, loadAverage, median, pushRandomImage, requireBinaries, runBench, sh, startDockerRegistry, startKubo, startNode,
  tempDir, timed
} from './lib/bench.mjs'
import { layoutIndexBytes, mediaTypes, ociLayoutBytes } from '../packages/multiplatform2ipfs/dist/index.js'

const { values } = parseArgs({ options: { kubo: { type: 'boolean', default: false }, warm: { type: 'boolean', default: false }, runs: { type: 'string', default: '5' }, layers: { type: 'string', default: '6' }, 'layer-mib': { type: 'string', default: '48' }, 'node-flags': { type: 'string', default: '' }, 'node-env': { type: 'string', multiple: true, default: [] } } })
const NODE_FLAGS = values['node-flags'].split(' ').filter(Boolean) // e.g. "--cpu-prof --cpu-prof-dir=bench/out"
// e.g. GLIBC_TUNABLES=glibc.malloc.trim_threshold=536870912:glibc.malloc.mmap_threshold=4194304 (README, Benchmarks)
const NODE_ENV = Object.fromEntries(values['node-env'].map(pair => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]))
const RUNS = Number(values.runs)
const TARGET = 0.8
const REPO = 'bench/random'
const TAG = 'v1'
const WARM_REPO = 'bench/warmup'

await runBench(async () => {
  requireBinaries('/usr/bin/docker-registry', '/usr/bin/skopeo')
  await sh('ipfs', ['version']).catch(() => { throw new Error('Kubo (ipfs) is not on PATH: scripts/install-kubo.sh') })
  console.log(`load average at start: ${await loadAverage()}`)
  const upstream = await startDockerRegistry()
  const image = await pushRandomImage(upstream.url, REPO, TAG, { layers: Number(values.layers), layerMiB: Number(values['layer-mib']) })
  console.log(`image ${REPO}:${TAG}: ${image.layers} random layers, ${(image.size / MiB).toFixed(1)} MiB, ${image.digest}`)
  if (values.warm) await pushRandomImage(upstream.url, WARM_REPO, TAG, { layers: 2, layerMiB: 16 })
  const work = await tempDir('dm-bench-import-')
  let cid

  // The previous run's files are removed right before each timed section, for both contenders
  // alike. On this VM memory freed more than ~2 s earlier is handed back to the host (free page
  // reporting) and costs a host fault when written again: removed before the node's start, the
  // node's writes met only such pages while skopeo, started right after the removal, met none
  // (measured: same node, 1.53 s vs 1.35 s, 2.21 vs 1.98 CPU-s).
  let pending = async () => {}
  const cleanupThenTime = async (fn) => {
    await pending()
    return await timed(fn)
  }
  const layout = join(work, 'oci-for-kubo')
  await sh('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--dest-oci-accept-uncompressed-layers', '--preserve-digests',
    `docker://${upstream.host}/${REPO}:${TAG}`, `oci:${layout}:${TAG}`])
  // the same layout as ours: skopeo writes its blobs byte for byte, but its own index.json and oci-layout
  await writeFile(join(layout, 'index.json'), layoutIndexBytes({ mediaType: mediaTypes.OCI_MANIFEST, digest: image.digest, size: image.manifestSize }, TAG))
  await writeFile(join(layout, 'oci-layout'), ociLayoutBytes())
  let kuboCid
  const runs = {
    async kubo (i) {
      const repo = join(work, `kubo-${i}`)
      const env = { ...process.env, IPFS_PATH: repo }
      await sh('ipfs', ['init', '--profile=test', '--empty-repo'], { env })
      try {
        const { ms, result } = await cleanupThenTime(async () => sh('ipfs', ['add', '-r', '--cid-version=1', '-Q', layout], { env }))
        kuboCid = result
        return ms
      } finally {
        pending = async () => { await rm(repo, { recursive: true, force: true }) }
      }
    },
    async distromash (i) {
      const dataDir = join(work, `node-${i}`)
      const node = await startNode({ dataDir, upstream: upstream.url, nodeFlags: NODE_FLAGS, env: NODE_ENV })
      try {
        if (values.warm) await importImage(node, WARM_REPO, TAG)
        const { ms, result } = await cleanupThenTime(async () => importImage(node, REPO, TAG))
        if (cid !== undefined && result.cid !== cid) throw new Error(`run ${i} gave CID ${result.cid}, earlier runs ${cid}`)
        cid = result.cid
        return ms
      } finally {
        await node.stop()
        pending = async () => { await rm(dataDir, { recursive: true, force: true }) }
      }
    },
    async 'kubo sidecar' (i) {
      const kubo = await startKubo({ base: work })
      const dataDir = join(work, `sidecar-${i}`)
      const node = await startNode({ dataDir, upstream: upstream.url, nodeFlags: NODE_FLAGS, env: NODE_ENV, args: ['--ipfs-api', kubo.api] })
      try {
        if (values.warm) await importImage(node, WARM_REPO, TAG)
        const { ms, result } = await cleanupThenTime(async () => importImage(node, REPO, TAG))
        if (cid !== undefined && result.cid !== cid) throw new Error(`sidecar run ${i} gave CID ${result.cid}, embedded runs ${cid}`)
        return ms
      } finally {
        await node.stop()
        await kubo.stop()
        pending = async () => { await rm(dataDir, { recursive: true, force: true }); await rm(kubo.repo, { recursive: true, force: true }) }
      }
    },
    async skopeo (i) {
      const dir = join(work, `oci-${i}`)
      try {
        const { ms } = await cleanupThenTime(async () => sh('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false',
          '--dest-oci-accept-uncompressed-layers', '--preserve-digests', `docker://${upstream.host}/${REPO}:${TAG}`, `oci:${dir}:${TAG}`]))
        return ms
      } finally {
        pending = async () => { await rm(dir, { recursive: true, force: true }) }
      }
    }
  }
  const contenders = ['skopeo', 'distromash', 'kubo', ...(values.kubo ? ['kubo sidecar'] : [])]
  const times = Object.fromEntries(contenders.map(c => [c, []]))
  // one warm-up of each (page cache of the upstream's blobs, skopeo's and node's first start), not counted
  for (const which of contenders) await runs[which]('warmup')
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 === 0 ? contenders : [...contenders].reverse()
    for (const which of order) {
      const ms = await runs[which](i)
      times[which].push(ms)
      console.log(`  ${which.padEnd(12)} ${(ms / 1000).toFixed(2)} s  ${(image.size / MiB / (ms / 1000)).toFixed(0)} MiB/s  (load ${await loadAverage()})`)
    }
  }
  await pending()

  const theirs = median(times.skopeo)
  const ours = median(times.distromash)
  const ratio = theirs / ours
  console.log(`\nbench/import — upstream → store of ${(image.size / MiB).toFixed(0)} MiB (${image.layers} layers), ${RUNS} runs each, alternating; CID ${cid}`)
  console.log(`skopeo copy → oci:  ${describe(times.skopeo)}  ${(image.size / MiB / (theirs / 1000)).toFixed(0)} MiB/s`)
  console.log(`distromash import${values.warm ? ' (warm node)' : ''}:  ${describe(times.distromash)}  ${(image.size / MiB / (ours / 1000)).toFixed(0)} MiB/s`)
  if (values.kubo) {
    const sidecar = median(times['kubo sidecar'])
    console.log(`distromash import, Kubo sidecar:  ${describe(times['kubo sidecar'])}  ${(image.size / MiB / (sidecar / 1000)).toFixed(0)} MiB/s  ratio ${(theirs / sidecar).toFixed(2)}× skopeo`)
  }
  console.log(`reference, Kubo's ipfs add -r of the same layout from disk:  ${describe(times.kubo)}  ${(image.size / MiB / (median(times.kubo) / 1000)).toFixed(0)} MiB/s  CID ${kuboCid === cid ? 'equal to ours' : `DIFFERENT: ${kuboCid}`}`)
  console.log(`speed ratio (skopeo time / distromash time): ${ratio.toFixed(2)}×   target ≥ ${TARGET}×   ${ratio >= TARGET ? 'PASS' : 'FAIL'}`)
  console.log(`load average at end: ${await loadAverage()}`)
  if (kuboCid !== cid) return 4
  return ratio >= TARGET ? 0 : 3
})
