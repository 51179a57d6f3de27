#!/usr/bin/env node
// bench/distribution — the DistroMash evaluation on one machine: N hosts in network namespaces
// plus a seed registry, every link shaped with tc. Measures the central baseline (every host
// `docker pull`s from the seed concurrently) against the lower bound S/u, and with --mesh the
// mesh (one percentage-100 strategy until every host reports `loaded`).
//
//   node bench/distribution/run.mjs [--rate 100] [--hosts 4] [--layers 4] [--layer-mib 50]
//                                   [--rates 100,50] [--mesh] [--nametag bench/big:1]
//                                   [--runs 0: no central run] [--perf FILE: perf record -a of each mesh run]
//   node bench/distribution/run.mjs --cleanup      remove leftovers of crashed runs
//
// Needs root, `npx tsc -b` (for --mesh) and the system parts of .ci/run. Node 20 cannot run
// TypeScript, so this entry registers a tiny esbuild loader and then imports main.ts: the bench
// reuses the very helpers the multi-host tests use (test/helpers/netns.ts, hosts.ts).
import { register } from 'node:module'

register('./ts-loader.mjs', import.meta.url)
// stack traces point into the .ts sources (the loader inlines source maps)
process.setSourceMapsEnabled(true)
await import('./main.ts')
