import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const ROOT = resolve(import.meta.dirname, '../..')
export const BIN = join(ROOT, 'bin/distromash')

export interface NodeOptions {
  dataDir?: string
  peerstore?: string
  swarmKey?: string
  apiPort?: number
  swarmPort?: number
  registryPort?: number
  extraArgs?: string[]
  env?: Record<string, string>
}

/** A real `distromash node` process on loopback, driven through its CLI and API. */
export class NodeProcess {
  peerId = ''
  addrs: string[] = []
  apiUrl = ''
  /** http://127.0.0.1:<port> of the node's OCI registry */
  registryUrl = ''
  output = ''
  private child?: ChildProcess
  private exited?: Promise<number | null>

  private constructor (readonly options: Required<Pick<NodeOptions, 'dataDir' | 'apiPort' | 'swarmPort' | 'registryPort'>> & NodeOptions) {}

  static async start (options: NodeOptions = {}): Promise<NodeProcess> {
    const dataDir = options.dataDir ?? await mkdtemp(join(tmpdir(), 'dm-node-'))
    const chosen = options.apiPort == null || options.swarmPort == null || options.registryPort == null
    for (let attempt = 1; ; attempt++) {
      const [api = 0, swarm = 0, registry = 0] = await freePorts(3)
      const node = new NodeProcess({
        ...options, dataDir, apiPort: options.apiPort ?? api, swarmPort: options.swarmPort ?? swarm, registryPort: options.registryPort ?? registry
      })
      try {
        await node.launch()
        return node
      } catch (err) {
        // another process can take a free port before the node binds it: choose again
        if (!chosen || attempt >= 3 || !/address in use/.test((err as Error).message)) throw err
      }
    }
  }

  /** Start again on the same data dir and ports (same peer ID) */
  async restart (): Promise<void> {
    await this.stop()
    await this.launch()
  }

  /** The node's process ID, for /proc figures (RSS, file descriptors) */
  get pid (): number {
    return this.child?.pid ?? 0
  }

  get multiaddr (): string {
    return `/ip4/127.0.0.1/tcp/${this.options.swarmPort}/p2p/${this.peerId}`
  }

  async api<T = unknown> (path: string, init: RequestInit = {}): Promise<{ status: number, body: T }> {
    const res = await fetch(this.apiUrl + path, {
      ...init,
      headers: { ...(init.body != null ? { 'content-type': 'application/json' } : {}), ...init.headers }
    })
    const text = await res.text()
    let body: unknown = text
    try { body = text === '' ? undefined : JSON.parse(text) } catch { /* not JSON */ }
    return { status: res.status, body: body as T }
  }

  async stop (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child == null) return
    this.child.kill(signal)
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 10_000)
    await this.exited
    clearTimeout(timer)
    this.child = undefined
  }

  private async launch (): Promise<void> {
    const o = this.options
    const args = ['node', '--data-dir', o.dataDir, '--api-port', String(o.apiPort),
      '--swarm-listen', `/ip4/127.0.0.1/tcp/${o.swarmPort}`, '--registry-port', String(o.registryPort),
      '--peerstore', o.peerstore ?? join(o.dataDir, 'peerstore.none'), ...(o.swarmKey != null ? ['--swarm-key', o.swarmKey] : []),
      ...(o.extraArgs ?? [])]
    this.output = ''
    const child = spawn(BIN, args, { cwd: o.dataDir, env: { ...process.env, DISTROMASH_LOG_LEVEL: 'warn', ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    this.exited = new Promise(resolve => child.once('exit', code => { resolve(code) }))
    child.stdout.on('data', (d: Buffer) => { this.output += d.toString() })
    child.stderr.on('data', (d: Buffer) => { this.output += d.toString() })
    await this.waitForStart()
  }

  private async waitForStart (): Promise<void> {
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const api = /^api: (\S+)$/m.exec(this.output)
      if (api?.[1] != null) {
        this.apiUrl = api[1]
        this.peerId = /^peer id: (\S+)$/m.exec(this.output)?.[1] ?? ''
        this.registryUrl = /^registry: (\S+)$/m.exec(this.output)?.[1] ?? ''
        this.addrs = [...this.output.matchAll(/^listening: (\S+)$/gm)].map(m => m[1] ?? '')
        return
      }
      if (this.child?.exitCode != null) throw new Error(`node exited with ${this.child.exitCode}: ${this.output}`)
      await sleep(50)
    }
    throw new Error(`node did not start in time: ${this.output}`)
  }
}

export async function writePeerstore (dir: string, nodes: NodeProcess[]): Promise<string> {
  const path = join(dir, 'peerstore')
  await writeFile(path, nodes.map(n => n.multiaddr).join('\n') + '\n')
  return path
}

/** n distinct free ports (all held open together while they are chosen) */
async function freePorts (n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, async () => await new Promise<Server>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { resolve(server) })
  })))
  const ports = servers.map(s => (s.address() as AddressInfo).port)
  await Promise.all(servers.map(async s => { await new Promise(resolve => s.close(resolve)) }))
  return ports
}

export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { typeof address === 'object' && address != null ? resolve(address.port) : reject(new Error('no port')) })
    })
  })
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Poll until check returns a truthy value; fail with the last value seen */
export async function eventually<T> (check: () => Promise<T>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  while (Date.now() < deadline) {
    last = await check()
    if (last) return last
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`)
}

/** Run a CLI command to completion */
export async function runCli (args: string[], options: { env?: Record<string, string>, cwd?: string } = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise(resolve => {
    const child = spawn(BIN, args, { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.once('exit', code => { resolve({ code, stdout, stderr }) })
  })
}
