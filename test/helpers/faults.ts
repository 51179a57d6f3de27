import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildImage, pushImage } from '../../bench/distribution/image.js'
import { newSwarmKey, startMesh } from './cluster.js'
import { Host, stopChild, UPSTREAM_PORT } from './hosts.js'
import { probeHttp, startForwarder } from './net-probes.js'
import { createLan, type Lan, type LanHost } from './netns.js'
import { eventually, sleep } from './node-process.js'
import { sh } from './sh.js'

/**
 * The fault tests' LAN (test/faults.test.ts): N hosts with dockerd and a node, and one more
 * namespace holding only the upstream docker-registry. Its link can be shaped, so an import
 * takes long enough to be interrupted, and its process killed outright. Host 1's node reaches it
 * through a loopback forwarder (nodes refuse plain HTTP to other hosts), so only host 1 imports.
 * One host's data dir may be a small tmpfs, to fill up.
 */

export interface FaultLan {
  lan: Lan
  hosts: Host[]
  upstreamNet: LanHost
  /** The upstream as host 1's node is configured with it */
  upstreamUrl: string
  /** Start docker-registry (again: same data) */
  startUpstream: () => Promise<void>
  /** SIGKILL: connections cut mid-response, as a crash or power loss does */
  killUpstream: () => Promise<void>
  destroy: () => Promise<void>
}

export interface FaultLanOptions {
  /** Node hosts (the upstream's namespace comes on top) */
  hosts: number
  /** This host's node data dir is a tmpfs of `mib` MiB (resizeDataDir grows it) */
  smallDisk?: { host: number, mib: number }
}

export async function startFaultLan (options: FaultLanOptions): Promise<FaultLan> {
  const labels = Array.from({ length: options.hosts }, (_, i) => `h${i + 1}`)
  const lan = await createLan({ hosts: [...labels, 'up'] })
  const upstreamNet = lan.hosts[options.hosts] as LanHost
  const nets = lan.hosts.slice(0, options.hosts)
  let registry: ChildProcess | undefined
  let forwarder: ChildProcess | undefined
  const dir = join(lan.dir, 'upstream')
  const fl: FaultLan = {
    lan,
    hosts: [],
    upstreamNet,
    upstreamUrl: `http://127.0.0.1:${UPSTREAM_PORT}`,
    startUpstream: async () => { registry = await startRegistryProcess(upstreamNet, dir) },
    killUpstream: async () => { registry?.kill('SIGKILL'); await stopChild(registry, 1000); registry = undefined },
    destroy: async () => {
      const errors: unknown[] = []
      const attempt = async (step: () => Promise<void>): Promise<void> => { try { await step() } catch (err) { errors.push(err) } }
      await Promise.all(fl.hosts.map(async h => { await attempt(async () => { await h.stop() }) }))
      await Promise.all(fl.hosts.map(async h => { await attempt(async () => { await h.stopDocker() }) }))
      await attempt(async () => { await stopChild(registry, 5000); await stopChild(forwarder, 1000) })
      await attempt(lan.destroy)
      if (errors.length > 0) throw new AggregateError(errors, 'fault LAN teardown failed')
    }
  }
  try {
    const swarmKey = join(lan.dir, 'swarm.key')
    await writeFile(swarmKey, await newSwarmKey())
    await fl.startUpstream()
    forwarder = await startForwarder(nets[0] as LanHost, '127.0.0.1', UPSTREAM_PORT, `${upstreamNet.ip}:${UPSTREAM_PORT}`)
    const apiToken = randomBytes(16).toString('hex')
    fl.hosts = await Promise.all(nets.map(async (net, i) => {
      const hostDir = join(lan.dir, net.label)
      await mkdir(hostDir, { recursive: true })
      if (options.smallDisk?.host === i) await mountTmpfs(join(hostDir, 'node'), options.smallDisk.mib)
      return new Host(net, hostDir, { swarmKey, apiToken, upstream: i === 0 ? fl.upstreamUrl : undefined })
    }))
    await Promise.all(fl.hosts.map(async h => { await h.startDocker() }))
    await startMesh(fl.hosts)
    return fl
  } catch (err) {
    await fl.destroy()
    throw err
  }
}

/** lan-cleanup unmounts whatever is mounted under the run's directory */
async function mountTmpfs (dir: string, mib: number): Promise<void> {
  await mkdir(dir, { recursive: true })
  await sh('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'tmpfs', dir])
}

/** Grow (or shrink) a host's tmpfs data dir in place: the node keeps running and sees the new size */
export async function resizeDataDir (host: Host, mib: number): Promise<void> {
  await sh('mount', ['-o', `remount,size=${mib}m`, join(host.dir, 'node')])
}

/** Debian's docker-registry on the LAN side of `net`, its data kept in `dir` across restarts */
async function startRegistryProcess (net: LanHost, dir: string): Promise<ChildProcess> {
  if (!existsSync('/usr/bin/docker-registry')) throw new Error('/usr/bin/docker-registry is missing: run .ci/run (docker-registry)')
  await mkdir(dir, { recursive: true })
  const config = join(dir, 'config.yml')
  await writeFile(config, ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`,
    'http:', `  addr: 0.0.0.0:${UPSTREAM_PORT}`, ''].join('\n'))
  const child = net.exec('/usr/bin/docker-registry', ['serve', config])
  let log = ''
  child.stderr?.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-5000) })
  const deadline = Date.now() + 20_000
  while (await probeHttp(net, `http://127.0.0.1:${UPSTREAM_PORT}/v2/`) !== '200') {
    if (child.exitCode != null || Date.now() > deadline) {
      await stopChild(child, 2000)
      throw new Error(`docker-registry in ${net.name} did not start: ${log}`)
    }
    await sleep(100)
  }
  return child
}

export interface UpstreamImage {
  /** name:tag as the mesh knows it (relative to the upstream) */
  nametag: string
  /** The image manifest's digest, as the upstream serves it */
  digest: string
  /** Manifest, config and layers */
  bytes: number
}

/**
 * A runnable image of a busybox layer and `layers` layers of `layerMib` MiB of random bytes,
 * pushed into the upstream from its own namespace (skopeo). Random bytes: every image is new to
 * every node, so nothing of an earlier test can be reused.
 */
export async function pushRandomImage (fl: FaultLan, nametag: string, layers: number, layerMib: number): Promise<UpstreamImage> {
  if (!existsSync('/bin/busybox')) throw new Error('static busybox missing: run .ci/run (busybox-static)')
  if (!existsSync('/usr/bin/skopeo')) throw new Error('/usr/bin/skopeo is missing: run .ci/run (skopeo)')
  const dir = join(fl.lan.dir, 'images', nametag.replace(/[^a-z0-9]/g, '-'))
  const image = await buildImage(dir, layers, layerMib)
  await pushImage(fl.upstreamNet, image, `127.0.0.1:${UPSTREAM_PORT}/${nametag}`)
  // skopeo writes the manifest anew on push: the digest is the one the upstream serves
  const { stdout } = await fl.upstreamNet.run('skopeo', ['inspect', '--tls-verify=false', `docker://127.0.0.1:${UPSTREAM_PORT}/${nametag}`])
  return { nametag, digest: (JSON.parse(stdout) as { Digest: string }).Digest, bytes: image.bytes }
}

/** Bytes the host has received over its link: the bridge end of its veth sends into the namespace */
export async function receivedBytes (host: Host): Promise<number> {
  return Number(await readFile(`/sys/class/net/${host.net.veth}/statistics/tx_bytes`, 'utf8'))
}

/** Cut the host's cable (the bridge end of its veth): its processes keep running, isolated */
export async function linkDown (host: Host): Promise<void> {
  await sh('ip', ['link', 'set', host.net.veth, 'down'])
}

export async function linkUp (host: Host): Promise<void> {
  await sh('ip', ['link', 'set', host.net.veth, 'up'])
}

/**
 * The host's API asked from inside its own namespace: while its link is down the test (in the
 * root namespace) cannot reach it, but its local users still can.
 */
export async function apiInside<T = unknown> (host: Host, path: string, init: { method?: string, body?: unknown } = {}): Promise<{ status: number, body: T }> {
  const request = JSON.stringify({
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${host.config.apiToken}`, ...(init.body != null ? { 'content-type': 'application/json' } : {}) },
    ...(init.body != null ? { body: JSON.stringify(init.body) } : {})
  })
  const script = `const r = await fetch(${JSON.stringify(host.apiUrl + path)}, { ...${request}, signal: AbortSignal.timeout(10000) })
console.log(JSON.stringify({ status: r.status, text: await r.text() }))`
  const { stdout } = await host.net.run('node', ['--input-type=module', '-e', script])
  const { status, text } = JSON.parse(stdout.trim()) as { status: number, text: string }
  return { status, body: (text === '' ? undefined : JSON.parse(text)) as T }
}

/** One row of the summary the fault tests print */
export interface FaultRow { fault: string, outcome: string, recoverS?: number }

export function summaryTable (rows: FaultRow[]): string {
  const lines = ['| fault | outcome | time to recover |', '| --- | --- | --- |']
  for (const r of rows) lines.push(`| ${r.fault} | ${r.outcome} | ${r.recoverS == null ? '–' : `${r.recoverS.toFixed(1)} s`} |`)
  return lines.join('\n')
}

/** eventually() for checks that answer a value once it is there, undefined until then */
export async function until<T> (check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  return await eventually(check, timeoutMs, what) as T
}
