import { existsSync } from 'node:fs'
import Docker from 'dockerode'

/** What the reconciler needs from the host's Docker engine. */
export interface DockerEngine {
  /** The engine's platform (e.g. linux/amd64), or undefined when no engine answers */
  platform (): Promise<string | undefined>
  /** Resolves when the engine answers; rejects saying why when it does not (stopped, socket gone, hung) */
  ping (options?: { signal?: AbortSignal }): Promise<void>
  /** Pull through a registry, reporting layer bytes */
  pull (ref: string, options?: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void }): Promise<void>
  tag (source: string, target: string): Promise<void>
  /** Image ID, or undefined when the engine lacks the reference */
  imageId (ref: string): Promise<string | undefined>
  /** Remove one reference (untag); the image goes when its last reference does */
  remove (ref: string): Promise<void>
}

/** The engine behind --docker-host (unix:// or tcp://), or the default local socket */
export function dockerodeEngine (dockerHost?: string): DockerEngine {
  return new DockerodeEngine(new Docker(connection(dockerHost)))
}

function connection (dockerHost?: string): Docker.DockerOptions {
  if (dockerHost == null) return { socketPath: existsSync('/var/run/docker.sock') ? '/var/run/docker.sock' : '/run/docker.sock' }
  const url = new URL(dockerHost)
  if (url.protocol === 'unix:') return { socketPath: url.pathname }
  return { host: url.hostname, port: Number(url.port || 2375), protocol: url.protocol === 'https:' ? 'https' : 'http' }
}

class DockerodeEngine implements DockerEngine {
  constructor (private readonly docker: Docker) {}

  async platform (): Promise<string | undefined> {
    try {
      const info = await this.docker.version() as { Os?: string, Arch?: string }
      return info.Os != null && info.Arch != null ? `${info.Os}/${info.Arch}` : undefined
    } catch {
      return undefined
    }
  }

  async ping (options: { signal?: AbortSignal } = {}): Promise<void> {
    // dockerode passes abortSignal on to its request; its typings only list the callback form
    const ping = this.docker.ping.bind(this.docker) as unknown as (opts: { abortSignal?: AbortSignal }) => Promise<unknown>
    await ping({ abortSignal: options.signal })
  }

  async pull (ref: string, options: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void } = {}): Promise<void> {
    const stream = await this.docker.pull(ref, { abortSignal: options.signal })
    const layers = new Map<string, { current: number, total: number }>()
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
        const failure = err ?? output.find(o => o.error != null)?.error
        if (failure != null) reject(typeof failure === 'string' ? new Error(failure) : failure)
        else resolve()
      }, (event: { id?: string, progressDetail?: { current?: number, total?: number } }) => {
        if (event.id == null || event.progressDetail?.total == null) return
        layers.set(event.id, { current: event.progressDetail.current ?? 0, total: event.progressDetail.total })
        let done = 0
        let total = 0
        for (const l of layers.values()) { done += l.current; total += l.total }
        options.onProgress?.(done, total)
      })
    })
  }

  async tag (source: string, target: string): Promise<void> {
    const { repo, tag } = splitRef(target)
    await this.docker.getImage(source).tag({ repo, tag })
  }

  async imageId (ref: string): Promise<string | undefined> {
    try {
      return (await this.docker.getImage(ref).inspect()).Id
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined
      throw err
    }
  }

  async remove (ref: string): Promise<void> {
    try {
      await this.docker.getImage(ref).remove({ noprune: false })
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err
    }
  }
}

/** `registry:5000/a/b:tag` → repo `registry:5000/a/b`, tag `tag` */
export function splitRef (ref: string): { repo: string, tag: string } {
  const at = ref.lastIndexOf(':')
  return at > ref.lastIndexOf('/') ? { repo: ref.slice(0, at), tag: ref.slice(at + 1) } : { repo: ref, tag: 'latest' }
}
