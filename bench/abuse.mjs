#!/usr/bin/env node
// bench/abuse: issue 16's heavy attacks at full size against one node process. Per attack it prints
// the victim's peak RSS, its worst GET /health latency, and whether an honest strategy (a
// percentage-100 of a fresh 16 MiB image, imported and pinned while the attack runs) completed and
// how long it took, beside the same figures for a run with no attack.
// Usage: node bench/abuse.mjs [--only sse,uploads,...]   (needs `npx tsc -b` and docker-registry)
import '../packages/p2pcomm/dist/polyfill.js' // Promise.withResolvers on Node 20, for the in-process libp2p attackers
import { readFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { pino } from 'pino'
import { createMeshNode, encodeEnvelope, parsePeerstore, signEnvelope } from '../packages/p2pcomm/dist/index.js'
import { ANNOUNCE_TOPIC, STORE_SYNC_PROTOCOL, STORE_TOPIC } from '../packages/p2pcomm/dist/constants.js'
import { encodeAnnouncement } from '../packages/p2pcomm/dist/announcement.js'
import { MiB, pushBlobBytes, pushRandomImage, runBench, sleep, startDockerRegistry, startNode, tempDir } from './lib/bench.mjs'

const { values } = parseArgs({ options: { only: { type: 'string' } } })
const ATTACKS = ['none', 'sse', 'uploads', 'child-manifest', 'gossip', 'fake-peers', 'sync-streams']
const chosen = values.only == null ? ATTACKS : ['none', ...values.only.split(',')]

const rssMb = async pid => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

/** Samples RSS and /health latency every 100 ms until stopped */
function watch (node) {
  let peak = 0
  let worst = 0
  let on = true
  const loop = (async () => {
    while (on) {
      peak = Math.max(peak, await rssMb(node.pid))
      const t = performance.now()
      await fetch(`${node.api}/health`, { signal: AbortSignal.timeout(30_000) }).then(r => r.arrayBuffer()).catch(() => {})
      worst = Math.max(worst, performance.now() - t)
      await sleep(100)
    }
  })()
  return async () => { on = false; await loop; return { peak, worst } }
}

/** A percentage-100 strategy of a fresh image; resolves to its time to pinned, or undefined after 120 s */
async function honestStrategy (node, upstream, tag) {
  await pushRandomImage(upstream.url, 'bench/honest', tag, { layers: 2, layerMiB: 8 })
  const t = performance.now()
  const res = await fetch(`${node.api}/api/v1/strategy`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'percentage', nametag: `bench/honest:${tag}`, percentage: 100 }) })
  if (res.status !== 201) return undefined
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(250)) {
    const cells = await fetch(`${node.api}/api/v1/replication`).then(r => r.json()).catch(() => ({ cells: [] }))
    if (cells.cells.some(c => c.image === `bench/honest:${tag}` && c.state === 'pinned')) return performance.now() - t
  }
  return undefined
}

async function attacker (node) {
  return createMeshNode({ dataDir: await tempDir('dm-abuse-attacker-'), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: parsePeerstore(node.multiaddr).addrs, self: () => ({ version: 'attacker', docker: false }), log: pino({ level: 'silent' }) })
}

const attacks = {
  async none () {},
  /** 3,000 event streams, and 10 clients that never read */
  async sse (node) {
    // the responses are kept: an unread fetch body that is garbage-collected closes its connection
    const streams = []
    for (let i = 0; i < 3000; i += 100) {
      streams.push(...await Promise.all(Array.from({ length: 100 }, () => fetch(`${node.api}/api/v1/events`).catch(() => undefined))))
    }
    const sockets = Array.from({ length: 10 }, () => { const s = connect(Number(new URL(node.api).port), '127.0.0.1'); s.write('GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'); s.pause(); return s })
    for (let i = 0; i < 300; i++) await fetch(`${node.api}/api/v1/crdt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: `sse/${i}`, value: 'x'.repeat(1000) }) })
    await sleep(3000)
    await Promise.all(streams.map(r => r?.body?.cancel().catch(() => {})))
    for (const s of sockets) s.destroy()
    return `${streams.filter(r => r?.status === 200).length} streams open, ${streams.filter(r => r?.status === 503).length} refused`
  },
  /** 200,000 upload starts, then one PATCH of 300 MiB */
  async uploads (node) {
    const codes = new Map()
    for (let i = 0; i < 200_000; i += 200) {
      await Promise.all(Array.from({ length: 200 }, () => fetch(`http://${node.registry}/v2/flood/x/blobs/uploads/`, { method: 'POST' }).then(r => { codes.set(r.status, (codes.get(r.status) ?? 0) + 1); return r.arrayBuffer() }).catch(() => {})))
    }
    return [...codes].map(([c, n]) => `${n}×${c}`).join(', ')
  },
  /** A 250-byte index naming a 300 MiB blob as a child manifest, pushed three times at once */
  async 'child-manifest' (node) {
    const digest = await pushBlobBytes(`http://${node.registry}`, 'huge/x', 300 * MiB)
    const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 250, platform: { os: 'linux', architecture: 'amd64' } }] })
    const codes = await Promise.all([1, 2, 3].map(i => fetch(`http://${node.registry}/v2/huge/x/manifests/${i}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index }).then(r => r.status)))
    return `index PUTs answered ${codes.join(', ')}`
  },
  /** 40 records of 200 KiB per second for 25 s, forged (signed by another key than their author's) */
  async gossip (node) {
    const a = await attacker(node)
    try {
      for (let t = 0; t < 20 && !a.libp2p.services.pubsub.getMeshPeers(STORE_TOPIC).includes(node.peerId); t++) await sleep(500)
      const key = await generateKeyPair('Ed25519')
      const value = JSON.stringify({ pad: 'x'.repeat(200 * 1024) })
      let sent = 0
      for (let s = 0; s < 25; s++) {
        for (let i = 0; i < 40; i++, sent++) await a.libp2p.services.pubsub.publish(STORE_TOPIC, encodeEnvelope(await signEnvelope(key, node.peerId, { key: `flood/${sent}`, value, version: { ms: Date.now(), n: sent } }))).catch(() => {})
        await sleep(1000)
      }
      return `${sent} forged records sent`
    } finally { await a.stop() }
  },
  /** 3,000 identities minted and announced over one connection */
  async 'fake-peers' (node) {
    const a = await attacker(node)
    try {
      for (let t = 0; t < 20 && !a.libp2p.services.pubsub.getMeshPeers(ANNOUNCE_TOPIC).includes(node.peerId); t++) await sleep(500)
      const pubsub = a.libp2p.services.pubsub
      const own = pubsub.publishConfig
      for (let i = 0; i < 3000; i++) {
        const key = await generateKeyPair('Ed25519')
        pubsub.publishConfig = { ...own, author: peerIdFromPrivateKey(key), key: publicKeyToProtobuf(key.publicKey), privateKey: key }
        await pubsub.publish(ANNOUNCE_TOPIC, encodeAnnouncement({ version: 'fake', docker: true, addrs: [`/ip4/127.0.0.1/tcp/${20_000 + i}`] })).catch(() => {})
      }
      pubsub.publishConfig = own
      await sleep(3000)
      const peers = await fetch(`${node.api}/api/v1/peers`).then(r => r.json())
      return `${peers.length} peers listed, ${peers.filter(p => p.live).length} live`
    } finally { await a.stop() }
  },
  /** 20 connections, each opening 8 sync streams that announce a 64 MiB message */
  async 'sync-streams' (node) {
    const attackers = await Promise.all(Array.from({ length: 20 }, () => attacker(node)))
    try {
      let opened = 0
      let cut = 0
      await Promise.all(attackers.map(async a => {
        for (let i = 0; i < 8; i++) {
          const stream = await a.libp2p.dialProtocol(peerIdFromString(node.peerId), STORE_SYNC_PROTOCOL, { signal: AbortSignal.timeout(5000) }).catch(() => undefined)
          if (stream == null) continue
          opened++
          try {
            // a varint length prefix of 64 MiB, then 1 MiB of it
            stream.send(Uint8Array.from([0x80, 0x80, 0x80, 0x20]))
            for (let k = 0; k < 16; k++) stream.send(new Uint8Array(64 * 1024))
          } catch { cut++ } // the victim closed it: the announced length is over its limit
        }
      }))
      await sleep(5000)
      return `${opened} streams opened, ${cut} cut by the victim while sending`
    } finally { await Promise.all(attackers.map(a => a.stop())) }
  }
}

await runBench(async () => {
  const upstream = await startDockerRegistry()
  const dir = await tempDir('dm-bench-abuse-')
  const rows = []
  for (const name of chosen) {
    const node = await startNode({ dataDir: join(dir, name), upstream: upstream.url })
    const stop = watch(node)
    const [note, honest] = await Promise.all([attacks[name](node).catch(err => `attack failed: ${err.message}`), sleep(1000).then(() => honestStrategy(node, upstream, name))])
    const { peak, worst } = await stop()
    rows.push({ name, peak, worst, honest, note })
    console.log(`${name.padEnd(15)} peak RSS ${peak.toFixed(0).padStart(5)} MB   worst /health ${worst.toFixed(0).padStart(6)} ms   honest strategy ${honest == null ? 'DID NOT COMPLETE' : `pinned in ${(honest / 1000).toFixed(1)} s`}   ${note ?? ''}`)
    await node.stop()
  }
  const base = rows[0]
  console.log('\nbench/abuse — against the same run without an attack')
  console.log('attack           peak RSS (vs none)     worst /health (vs none)   honest strategy')
  for (const r of rows) {
    console.log(`${r.name.padEnd(16)} ${`${r.peak.toFixed(0)} MB (${(r.peak / base.peak).toFixed(2)}×)`.padEnd(22)} ${`${r.worst.toFixed(0)} ms (${(r.worst / Math.max(1, base.worst)).toFixed(1)}×)`.padEnd(25)} ${r.honest == null ? 'FAILED' : `completed, ${(r.honest / 1000).toFixed(1)} s (${(r.honest / base.honest).toFixed(2)}×)`}`)
  }
  return rows.every(r => r.honest != null) ? 0 : 1
})
