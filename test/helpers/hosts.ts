import { execFile, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { LanHost } from './netns.js'
import { BIN, sleep } from './node-process.js'

/**
 * A "host" of the multi-host tests: one network namespace of a virtual LAN (netns.ts) running its
 * own dockerd and its own DistroMash node, like one machine of the DistroMash evaluation.
 *
 * Addressing, as seen from each side:
 * - The test (root namespace) reaches a node's API at http://198.18.0.1x:3000 over the bridge;
 *   binding the API to 127.0.0.1 would make it unreachable from outside the namespace.
 * - dockerd runs inside the namespace, so its 127.0.0.1 is the namespace's loopback: a
 *   `docker pull 127.0.0.1:5005/name:tag` on a host's engine reaches that host's own node registry
 *   (default port 5005, bound to 127.0.0.1), never another host's; and 127.0.0.0/8 is an insecure
 *   registry to Docker by default, so no TLS is needed.
 * - The docker CLI runs in the root namespace and only talks to the engine's unix socket.
 * - The upstream registry (startUpstream) listens on 127.0.0.1 inside the first host's namespace,
 *   so the other hosts cannot reach it at all: they must get images from peers.
 */

const execFileP = promisify(execFile)
export const API_PORT = 3000
export const SWARM_PORT = 4001
export const REGISTRY_PORT = 5005
export const UPSTREAM_PORT = 5000

export interface HostConfig {
  swarmKey: string
  apiToken: string
  /** --upstream for this host's node */
  upstream?: string
  logLevel?: string
  /** More node flags, e.g. --grace-period 10 */
  nodeArgs?: string[]
}

export class Host {
  peerId = ''
  /** The node's stdout and stderr since its last start */
  output = ''
  private node?: ChildProcess
  private nodeExited?: Promise<void>
  private dockerd?: ChildProcess
  private dockerLog = ''

  constructor (readonly net: LanHost, readonly dir: string, readonly config: HostConfig) {}

  get ip (): string { return this.net.ip }
  get label (): string { return this.net.label }
  get apiUrl (): string { return `http://${this.ip}:${API_PORT}` }
  get multiaddr (): string { return `/ip4/${this.ip}/tcp/${SWARM_PORT}/p2p/${this.peerId}` }
  get socket (): string { return join(this.dir, 'docker.sock') }
  get dockerHost (): string { return `unix://${this.socket}` }
  get peerstore (): string { return join(this.dir, 'peerstore') }
  get running (): boolean { return this.node != null && this.node.exitCode == null && this.node.signalCode == null }

  /** Run the docker CLI against this host's engine */
  async docker (...args: string[]): Promise<string> {
    try {
      const { stdout } = await execFileP('docker', ['-H', this.dockerHost, ...args], { maxBuffer: 64 * 1024 * 1024 })
      return stdout.trim()
    } catch (err) {
      const e = err as Error & { stderr?: string }
      throw new Error(`docker ${args.join(' ')} on ${this.label} failed: ${e.stderr?.trim() ?? e.message}`)
    }
  }

  async api<T = unknown> (path: string, init: RequestInit = {}): Promise<{ status: number, body: T }> {
    const res = await fetch(this.apiUrl + path, {
      ...init,
      headers: { authorization: `Bearer ${this.config.apiToken}`, ...(init.body != null ? { 'content-type': 'application/json' } : {}), ...init.headers }
    })
    const text = await res.text()
    let body: unknown = text
    try { body = text === '' ? undefined : JSON.parse(text) } catch { /* not JSON */ }
    return { status: res.status, body: body as T }
  }

  async startDocker (): Promise<void> {
    if (!existsSync('/usr/sbin/dockerd') && !existsSync('/usr/bin/dockerd')) throw new Error('dockerd is not installed: run .ci/run (docker.io)')
    // dockerd starts its own containerd with config, socket and state under --exec-root and its
    // content under --data-root, so several engines never share containerd or its shim sockets.
    const args = ['--data-root', join(this.dir, 'docker'), '--exec-root', join(this.dir, 'exec'), '--pidfile', join(this.dir, 'docker.pid'),
      '-H', this.dockerHost, '--bridge=none', '--iptables=false', '--ip6tables=false', '--storage-driver=overlay2',
      // only our benchmarking subnet: the benchmark's seed registry is plain HTTP on 198.18.0.x
      '--insecure-registry', '198.18.0.0/24']
    this.dockerLog = ''
    const child = this.net.exec('dockerd', args)
    this.dockerd = child
    // keep only the tail: dockerd logs every pull and container
    const append = (d: Buffer): void => { this.dockerLog = (this.dockerLog + d.toString()).slice(-20_000) }
    child.stdout?.on('data', append)
    child.stderr?.on('data', append)
    await this.waitForDocker(child)
  }

  private async waitForDocker (child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (child.exitCode != null) throw new Error(`dockerd on ${this.label} exited: ${this.dockerLog.slice(-2000)}`)
      try {
        await this.docker('version', '--format', '{{.Server.Version}}')
        return
      } catch { await sleep(200) }
    }
    throw new Error(`dockerd on ${this.label} did not start: ${this.dockerLog.slice(-2000)}`)
  }

  /** SIGTERM lets dockerd stop containers, its containerd and unmount its overlays */
  async stopDocker (): Promise<void> {
    await stopChild(this.dockerd, 20_000)
    this.dockerd = undefined
  }

  /** Start the node (again): same data dir, so the same peer ID */
  async start (): Promise<void> {
    if (this.node != null) throw new Error(`node on ${this.label} is already running`)
    const child = this.net.exec(BIN, this.nodeArgs(), { cwd: this.dir, env: nodeEnv(this.config.logLevel ?? 'warn') })
    this.output = ''
    this.node = child
    this.nodeExited = new Promise(resolve => child.once('exit', () => { resolve() }))
    child.stdout?.on('data', (d: Buffer) => { this.output += d.toString() })
    child.stderr?.on('data', (d: Buffer) => { this.output += d.toString() })
    await this.waitForNode(child)
  }

  private nodeArgs (): string[] {
    return ['node', '--data-dir', join(this.dir, 'node'),
      '--api-host', this.ip, '--api-port', String(API_PORT), '--api-token', this.config.apiToken,
      '--swarm-listen', `/ip4/${this.ip}/tcp/${SWARM_PORT}`, '--registry-port', String(REGISTRY_PORT),
      '--peerstore', this.peerstore, '--swarm-key', this.config.swarmKey, '--docker-host', this.dockerHost,
      ...(this.config.upstream != null ? ['--upstream', this.config.upstream] : []), ...(this.config.nodeArgs ?? [])]
  }

  private async waitForNode (child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (/^api: \S+$/m.test(this.output)) {
        this.peerId = /^peer id: (\S+)$/m.exec(this.output)?.[1] ?? ''
        return
      }
      if (child.exitCode != null) {
        this.node = undefined
        throw new Error(`node on ${this.label} exited with ${child.exitCode}: ${this.output}`)
      }
      await sleep(50)
    }
    throw new Error(`node on ${this.label} did not start in time: ${this.output}`)
  }

  async stop (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.node == null) return
    this.node.kill(signal)
    const timer = setTimeout(() => this.node?.kill('SIGKILL'), 10_000)
    await this.nodeExited
    clearTimeout(timer)
    this.node = undefined
  }

  /** A crash: no chance to say goodbye to peers */
  async kill (): Promise<void> { await this.stop('SIGKILL') }

  async restart (): Promise<void> {
    await this.stop()
    await this.start()
  }
}

/** The environment of a node process: ours, minus settings that would override its flags */
function nodeEnv (logLevel: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DISTROMASH_') && k !== 'LIBP2P_FORCE_PNET'))
  return { ...env, DISTROMASH_LOG_LEVEL: logLevel }
}

export async function stopChild (child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (child == null || child.exitCode != null || child.signalCode != null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}
