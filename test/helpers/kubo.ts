import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const execFileP = promisify(execFile)

/** The Kubo version scripts/install-kubo.sh builds and the interop tests are written against */
export const KUBO_VERSION = '0.43.1'

export interface KuboOptions {
  /** swarm.key file contents; none for a public (non-pnet) Kubo */
  swarmKey?: string
  /** Multiaddrs (with /p2p/) Kubo bootstraps to, and nothing else */
  bootstrap?: string[]
  /** Swarm listen address (default /ip4/127.0.0.1/tcp/0) */
  listen?: string
  /** Extra environment, e.g. LIBP2P_FORCE_PNET=1 */
  env?: Record<string, string>
  /** Run the daemon through another command, e.g. ['ip', 'netns', 'exec', 'h1'] */
  wrap?: string[]
}

/** The `ipfs` binary, or a loud failure naming how to get it: tests that need Kubo never skip */
export async function kuboBinary (): Promise<string> {
  try {
    const { stdout } = await execFileP('ipfs', ['version'])
    if (!stdout.includes(KUBO_VERSION)) throw new Error(`found ${stdout.trim()}, need ${KUBO_VERSION}`)
    return 'ipfs'
  } catch (err) {
    throw new Error(`Kubo ${KUBO_VERSION} is needed on PATH (scripts/install-kubo.sh, run by .ci/run): ${(err as Error).message}`)
  }
}

/**
 * A real Kubo daemon in its own repo (`ipfs init --profile=test`: loopback, random ports, no
 * bootstrap, no mDNS, loopback addresses allowed on the LAN DHT), driven through its CLI and RPC.
 */
export class KuboDaemon {
  peerId = ''
  /** Kubo RPC, e.g. http://127.0.0.1:45123 */
  apiUrl = ''
  swarmAddrs: string[] = []
  output = ''
  private child?: ChildProcess
  private exited?: Promise<number | null>

  private constructor (readonly repo: string, readonly options: KuboOptions) {}

  /** Init a repo and configure it; the daemon is not started */
  static async init (options: KuboOptions = {}): Promise<KuboDaemon> {
    await kuboBinary()
    const repo = await mkdtemp(join(tmpdir(), 'dm-kubo-'))
    const kubo = new KuboDaemon(repo, options)
    await kubo.ipfs(['init', '--profile=test', '--empty-repo'])
    if (options.swarmKey != null) await writeFile(join(repo, 'swarm.key'), options.swarmKey)
    await kubo.ipfs(['config', '--json', 'Bootstrap', JSON.stringify(options.bootstrap ?? [])])
    // a swarm key means a private network: no public HTTP routers (Kubo would switch to the DHT
    // itself, with an error line), and no WebSocket sharing the TCP port (pnet cannot share it)
    if (options.swarmKey != null) await kubo.ipfs(['config', 'Routing.Type', 'dht'])
    await kubo.ipfs(['config', '--json', 'Swarm.Transports.Network.Websocket', 'false'])
    if (options.listen != null) await kubo.ipfs(['config', '--json', 'Addresses.Swarm', JSON.stringify([options.listen])])
    kubo.peerId = (await kubo.ipfs(['config', 'Identity.PeerID'])).trim()
    return kubo
  }

  static async start (options: KuboOptions = {}): Promise<KuboDaemon> {
    const kubo = await KuboDaemon.init(options)
    await kubo.startDaemon()
    return kubo
  }

  get env (): NodeJS.ProcessEnv {
    return { ...process.env, IPFS_PATH: this.repo, ...this.options.env }
  }

  /** Run an `ipfs` CLI command against this repo (through the daemon's RPC when it runs) */
  async ipfs (args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
    const [cmd, ...pre] = [...(this.options.wrap ?? []), 'ipfs']
    try {
      const { stdout } = await execFileP(cmd ?? 'ipfs', [...pre, ...args], { env: this.env, maxBuffer: 256 * 1024 * 1024, timeout: options.timeoutMs ?? 120_000 })
      return stdout
    } catch (err) {
      const e = err as Error & { stderr?: string, killed?: boolean }
      throw new Error(`ipfs ${args.join(' ')} failed${e.killed === true ? ' (timed out)' : ''}: ${e.stderr?.trim() ?? e.message}`)
    }
  }

  /** Start `ipfs daemon`; resolves when it is ready, rejects with its output when it exits first */
  async startDaemon (): Promise<void> {
    const [cmd, ...pre] = [...(this.options.wrap ?? []), 'ipfs']
    this.output = ''
    const child = spawn(cmd ?? 'ipfs', [...pre, 'daemon'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    this.exited = new Promise(resolve => child.once('exit', code => { resolve(code) }))
    child.stdout.on('data', (d: Buffer) => { this.output += d.toString() })
    child.stderr.on('data', (d: Buffer) => { this.output += d.toString() })
    const deadline = Date.now() + 60_000
    while (!this.output.includes('Daemon is ready')) {
      if (child.exitCode != null) throw new Error(`ipfs daemon exited with ${child.exitCode}: ${this.output}`)
      if (Date.now() > deadline) throw new Error(`ipfs daemon did not start in time: ${this.output}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const api = /RPC API server listening on \/ip4\/([\d.]+)\/tcp\/(\d+)/.exec(this.output)
    if (api == null) throw new Error(`no RPC address in the daemon's output: ${this.output}`)
    this.apiUrl = `http://${api[1]}:${api[2]}`
    const id = JSON.parse(await this.ipfs(['id'])) as { Addresses: string[] | null }
    this.swarmAddrs = id.Addresses ?? []
  }

  /** Whether the daemon process is still running */
  get running (): boolean {
    return this.child != null && this.child.exitCode == null
  }

  /** Wait for the daemon to exit on its own (e.g. refused to start); its exit code */
  async exit (): Promise<number | null> {
    return await this.exited ?? null
  }

  /** Peer IDs Kubo has a connection to */
  async connectedPeers (): Promise<string[]> {
    const out = await this.ipfs(['swarm', 'peers'])
    return out.split('\n').filter(l => l !== '').map(l => l.slice(l.lastIndexOf('/p2p/') + 5))
  }

  async stop (): Promise<void> {
    if (this.child != null && this.child.exitCode == null) {
      this.child.kill('SIGTERM')
      const timer = setTimeout(() => this.child?.kill('SIGKILL'), 10_000)
      await this.exited
      clearTimeout(timer)
    }
    this.child = undefined
  }

  /** Stop the daemon and remove its repo */
  async destroy (): Promise<void> {
    await this.stop()
    await rm(this.repo, { recursive: true, force: true })
  }
}
