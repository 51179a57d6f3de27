#!/usr/bin/env node
// bench/scale — issue 14, "Scale on one machine": 30 node processes in network namespaces on one
// host, one private network, every node bootstrapped only to node 1. Measures how soon every node
// lists every other as live, write → visible everywhere (p50/p95), a percentage-10 strategy of a
// small image, and the idle CPU and RSS of the mesh. See bench/scale/main.ts and README Benchmarks.
//
//   node bench/scale/run.mjs [--nodes 30] [--writes 60] [--batch 4] [--idle-s 30]
//   node bench/scale/run.mjs --cleanup      remove leftovers of a crashed run (namespaces, links, dirs)
//
// Needs root (ip netns), `npx tsc -b` and Debian's docker-registry. Node 20 cannot run
// TypeScript: bench/distribution's esbuild loader lets this bench import the very helpers the
// multi-host tests use (test/helpers/netns.ts, hosts.ts, cluster.ts).
import { register } from 'node:module'

register('../distribution/ts-loader.mjs', import.meta.url)
process.setSourceMapsEnabled(true)
await import('./main.ts')
