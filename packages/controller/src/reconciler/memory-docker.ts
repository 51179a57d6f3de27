import type { DockerEngine } from './docker.js'

/**
 * The in-memory twin of the Docker engine, for unit tests: pulls "succeed" by asking the given
 * function for the image ID (which may read the registry the reconciler points at), and the
 * engine keeps references. The real engine runs the same reconciler in the integration tests.
 */
export class MemoryDockerEngine implements DockerEngine {
  readonly refs = new Map<string, string>()
  readonly pulls: string[] = []
  /** An engine that stopped after the node started: every call fails as a gone socket does */
  stopped = false

  /** platform (arch) null: a host without an engine, or whose engine has not started yet */
  constructor (public arch: string | null = 'linux/amd64', private readonly resolvePull: (ref: string) => Promise<string> = async ref => `sha256:${ref}`) {}

  async platform (): Promise<string | undefined> {
    return this.arch ?? undefined
  }

  async ping (): Promise<void> {
    if (this.stopped) throw new Error('connect ENOENT /var/run/docker.sock')
  }

  async pull (ref: string): Promise<void> {
    await this.ping()
    this.pulls.push(ref)
    this.refs.set(ref, await this.resolvePull(ref))
  }

  async tag (source: string, target: string): Promise<void> {
    const id = this.refs.get(source)
    if (id == null) throw new Error(`No such image: ${source}`)
    this.refs.set(target, id)
  }

  async imageId (ref: string): Promise<string | undefined> {
    await this.ping()
    return this.refs.get(ref)
  }

  async remove (ref: string): Promise<void> {
    this.refs.delete(ref)
  }
}
