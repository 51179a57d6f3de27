import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreatePeerKey } from '../../packages/p2pcomm/src/index.js'
import { Host, stopChild, UPSTREAM_PORT } from './hosts.js'
import { probeHttp } from './net-probes.js'
import { createLan, type Lan, type LanHost } from './netns.js'
import { runCli, sleep } from './node-process.js'

/** Several Hosts (hosts.ts) on one virtual LAN, meshed under one swarm key, and their upstream. */

const execFileP = promisify(execFile)

export interface Registry {
  /** The registry as its namespace (and, unless on loopback, the LAN) sees it: `http://addr:port` */
  url: string
  /** `addr:port`, the registry part of an image reference */
  host: string
  stop: () => Promise<void>
}

/**
 * Debian's real docker-registry inside a host's namespace. On 127.0.0.1 only that host reaches
 * it; on 0.0.0.0 the whole LAN does (through this host's shaped link).
 */
export async function startRegistry (net: LanHost, dir: string, listen = `127.0.0.1:${UPSTREAM_PORT}`): Promise<Registry> {
  if (!existsSync('/usr/bin/docker-registry')) throw new Error('/usr/bin/docker-registry is missing: run .ci/run (docker-registry)')
  await mkdir(dir, { recursive: true })
  const config = join(dir, 'config.yml')
  await writeFile(config, ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, '  delete:', '    enabled: true',
    'http:', `  addr: ${listen}`, ''].join('\n'))
  const child = net.exec('/usr/bin/docker-registry', ['serve', config])
  let log = ''
  child.stderr?.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-5000) })
  const probe = `http://${listen.replace('0.0.0.0', '127.0.0.1')}/v2/`
  // readiness is checked from inside the namespace: the root namespace cannot see its loopback
  const deadline = Date.now() + 20_000
  while (await probeHttp(net, probe) !== '200') {
    if (child.exitCode != null || Date.now() > deadline) {
      await stopChild(child, 2000)
      throw new Error(`docker-registry in ${net.name} did not start: ${log}`)
    }
    await sleep(100)
  }
  return { url: `http://${listen}`, host: listen, stop: async () => { await stopChild(child, 5000) } }
}

export interface Cluster {
  lan: Lan
  hosts: Host[]
  /** The first host's upstream, when asked for */
  upstream?: Registry
  swarmKey: string
  destroy: () => Promise<void>
}

export interface ClusterOptions {
  hosts: number
  rateMbit?: number
  /** Start a docker-registry on 127.0.0.1 in the first host's namespace, its node's --upstream */
  upstream?: boolean
  logLevel?: string
  /** More flags for every node */
  nodeArgs?: string[]
  /** Hosts (by index) named in one writers file that every node is given (--writers); none: no writers file */
  writers?: number[]
}

/**
 * N hosts, each with dockerd and a node, meshed under one generated swarm key. The first node
 * starts alone; the others bootstrap from a peerstore listing its namespace address. Once all are
 * up, every peerstore lists all other hosts, so any node restarts into the mesh.
 */
export async function startCluster (options: ClusterOptions): Promise<Cluster> {
  const lan = await createLan({ hosts: options.hosts, rateMbit: options.rateMbit })
  const cluster: Cluster = { lan, hosts: [], swarmKey: join(lan.dir, 'swarm.key'), destroy: async () => { await destroyCluster(cluster) } }
  try {
    await writeFile(cluster.swarmKey, await newSwarmKey())
    const first = lan.hosts[0] as LanHost
    if (options.upstream === true) cluster.upstream = await startRegistry(first, join(lan.dir, 'upstream'))
    const apiToken = randomBytes(16).toString('hex')
    const writersArgs = options.writers == null ? [] : ['--writers', await writeWritersFile(lan, options.writers)]
    cluster.hosts = await Promise.all(lan.hosts.map(async (net, i) => {
      const dir = join(lan.dir, net.label)
      await mkdir(dir, { recursive: true })
      return new Host(net, dir, { swarmKey: cluster.swarmKey, apiToken, logLevel: options.logLevel, nodeArgs: [...options.nodeArgs ?? [], ...writersArgs], upstream: i === 0 ? cluster.upstream?.url : undefined })
    }))
    await Promise.all(cluster.hosts.map(async h => { await h.startDocker() }))
    await startMesh(cluster.hosts)
    return cluster
  } catch (err) {
    await cluster.destroy()
    throw err
  }
}

/** The writers' peer keys are made before their nodes first start (in <host dir>/node, the node's data dir), so the file can name them */
async function writeWritersFile (lan: Lan, writers: number[]): Promise<string> {
  const ids = await Promise.all(writers.map(async i => {
    const key = await loadOrCreatePeerKey(join(lan.dir, (lan.hosts[i] as LanHost).label, 'node', 'peer.key'))
    return peerIdFromPrivateKey(key).toString()
  }))
  const path = join(lan.dir, 'writers')
  await writeFile(path, `# peers allowed to change desired state\n${ids.join('\n')}\n`)
  return path
}

/** Start the hosts' nodes: the first alone, the rest bootstrapping from it; then full peerstores */
export async function startMesh (hosts: Host[]): Promise<void> {
  const [first, ...rest] = hosts as [Host, ...Host[]]
  await first.start()
  for (const h of rest) await writeFile(h.peerstore, first.multiaddr + '\n')
  await Promise.all(rest.map(async h => { await h.start() }))
  for (const h of hosts) await writeFile(h.peerstore, hosts.filter(o => o !== h).map(o => o.multiaddr).join('\n') + '\n')
}

/** A fresh private-network key from the node binary (Kubo swarm.key format) */
export async function newSwarmKey (): Promise<string> {
  const { code, stdout, stderr } = await runCli(['swarm-key'])
  if (code !== 0) throw new Error(`distromash swarm-key failed (run npx tsc -b?): ${stderr}`)
  return stdout
}

/** Stop everything, each step independent of the others' failures, then remove the LAN */
async function destroyCluster (cluster: Cluster): Promise<void> {
  const errors: unknown[] = []
  const attempt = async (step: () => Promise<void>): Promise<void> => { try { await step() } catch (err) { errors.push(err) } }
  await Promise.all(cluster.hosts.map(async h => { await attempt(async () => { await h.stop() }) }))
  await Promise.all(cluster.hosts.map(async h => { await attempt(async () => { await h.stopDocker() }) }))
  if (cluster.upstream != null) await attempt(cluster.upstream.stop)
  await attempt(cluster.lan.destroy)
  if (errors.length > 0) throw new AggregateError(errors, 'cluster teardown failed')
}

/** Anything with a docker CLI: a Host, or test/helpers/docker.ts's DockerEngine */
export interface DockerCli { docker: (...args: string[]) => Promise<string> }

/**
 * A runnable image without network: Debian's static busybox as its only layer and a CMD printing
 * `message` (the same image as docker.ts's importBusyboxImage, for any engine).
 */
export async function importBusybox (engine: DockerCli, ref: string, message: string): Promise<string> {
  if (!existsSync('/bin/busybox')) throw new Error('static busybox missing: run .ci/run (busybox-static)')
  const dir = await mkdtemp('/tmp/dm-rootfs-')
  const root = join(dir, 'rootfs')
  try {
    await mkdir(join(root, 'bin'), { recursive: true })
    await copyFile('/bin/busybox', join(root, 'bin/busybox'))
    for (const applet of ['sh', 'echo', 'cat', 'ls']) await symlink('busybox', join(root, 'bin', applet))
    await execFileP('tar', ['-C', root, '-cf', join(dir, 'rootfs.tar'), '.'])
    await engine.docker('import', '-c', `CMD ["/bin/echo", ${JSON.stringify(message)}]`, join(dir, 'rootfs.tar'), ref)
    return ref
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Put a busybox image into the upstream through the first host's engine: its dockerd lives in the
 * namespace whose 127.0.0.1 is the upstream. Returns the upstream reference.
 */
export async function pushToUpstream (host: Host, upstream: Registry, repoTag: string, message: string): Promise<string> {
  const ref = `${upstream.host}/${repoTag}`
  await importBusybox(host, ref, message)
  await host.docker('push', ref)
  return ref
}
