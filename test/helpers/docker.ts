import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, symlink, copyFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { sleep } from './node-process.js'

const run = promisify(execFile)

/**
 * A real, private Docker engine for one test: its own data root, exec root, pid file and unix
 * socket, no bridge and no iptables, so it never touches the host's network or other engines.
 */
export class DockerEngine {
  private child?: ChildProcess
  private log = ''

  private constructor (readonly dir: string, readonly socket: string) {}

  get host (): string {
    return `unix://${this.socket}`
  }

  static async start (dir?: string): Promise<DockerEngine> {
    if (!existsSync('/usr/sbin/dockerd') && !existsSync('/usr/bin/dockerd')) {
      throw new Error('dockerd is not installed: run .ci/run (apt-get install docker.io)')
    }
    // unix socket paths are limited to 107 bytes: keep the directory short
    const base = dir ?? await mkdtemp(join('/tmp', 'dmd-'))
    const engine = new DockerEngine(base, join(base, 'docker.sock'))
    await engine.launch()
    return engine
  }

  /** Run the docker CLI against this engine */
  async docker (...args: string[]): Promise<string> {
    const { stdout } = await run('docker', ['-H', this.host, ...args], { maxBuffer: 64 * 1024 * 1024 })
    return stdout.trim()
  }

  async stop (): Promise<void> {
    if (this.child == null) return
    const exited = new Promise(resolve => this.child?.once('exit', resolve))
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(timer)
    this.child = undefined
    // overlay mounts under the data root are gone once dockerd has stopped
    await rm(this.dir, { recursive: true, force: true }).catch(() => {})
  }

  private async launch (): Promise<void> {
    const args = ['--data-root', join(this.dir, 'root'), '--exec-root', join(this.dir, 'exec'), '--pidfile', join(this.dir, 'docker.pid'),
      '-H', this.host, '--bridge=none', '--iptables=false', '--ip6tables=false', '--storage-driver=overlay2']
    this.child = spawn('dockerd', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.on('data', (d: Buffer) => { this.log += d.toString() })
    this.child.stderr?.on('data', (d: Buffer) => { this.log += d.toString() })
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (this.child.exitCode != null) throw new Error(`dockerd exited: ${this.log.slice(-2000)}`)
      try {
        await this.docker('version', '--format', '{{.Server.Version}}')
        return
      } catch { await sleep(200) }
    }
    throw new Error(`dockerd did not start: ${this.log.slice(-2000)}`)
  }
}

/**
 * A runnable test image without any network: a rootfs with Debian's static busybox, imported with
 * a CMD that prints `message`. Returns the local image reference.
 */
export async function importBusyboxImage (engine: DockerEngine, ref: string, message: string): Promise<string> {
  const busybox = '/bin/busybox'
  if (!existsSync(busybox)) throw new Error('static busybox missing: run .ci/run (apt-get install busybox-static)')
  const root = await mkdtemp(join(tmpdir(), 'dm-rootfs-'))
  await mkdir(join(root, 'bin'))
  await copyFile(busybox, join(root, 'bin/busybox'))
  for (const applet of ['sh', 'echo', 'cat', 'ls']) await symlink('busybox', join(root, 'bin', applet))
  const tar = join(root, '..', `${root.split('/').pop() ?? 'rootfs'}.tar`)
  await run('tar', ['-C', root, '-cf', tar, '.'])
  await engine.docker('import', '-c', `CMD ["/bin/echo", ${JSON.stringify(message)}]`, tar, ref)
  await rm(root, { recursive: true, force: true })
  await rm(tar, { force: true })
  return ref
}

export async function readText (path: string): Promise<string> {
  return readFile(path, 'utf8')
}
