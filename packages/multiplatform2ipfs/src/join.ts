import type { ProgressEvent } from 'progress-events'

export interface JoinOptions<E extends ProgressEvent> {
  signal?: AbortSignal
  onProgress?: (event: E) => void
}

/**
 * One running operation shared by every caller that asks for the same key. Each caller can
 * abort its own wait; the operation itself is aborted only once every caller has given up.
 */
export class SharedJob<R, E extends ProgressEvent> {
  readonly promise: Promise<R>
  private readonly controller = new AbortController()
  private readonly listeners = new Set<(event: E) => void>()
  private waiting = 0

  constructor (run: (signal: AbortSignal, onProgress: (event: E) => void) => Promise<R>) {
    this.promise = run(this.controller.signal, event => { for (const listener of this.listeners) listener(event) })
    this.promise.catch(() => {}) // each attached caller observes the failure; avoid an unhandled rejection here
  }

  attach (options: JoinOptions<E> = {}): Promise<R> {
    const { signal, onProgress } = options
    signal?.throwIfAborted()
    this.waiting++
    if (onProgress !== undefined) {
      this.listeners.add(onProgress)
    }
    return new Promise<R>((resolve, reject) => {
      const leave = (): void => {
        this.waiting--
        signal?.removeEventListener('abort', onAbort)
        if (onProgress !== undefined) {
          this.listeners.delete(onProgress)
        }
      }
      const onAbort = (): void => {
        leave()
        reject(signal?.reason)
        if (this.waiting === 0) {
          this.controller.abort(signal?.reason)
        }
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.promise.then(value => { leave(); resolve(value) }, (err: unknown) => { leave(); reject(err) })
    })
  }
}

/** Keeps at most one SharedJob per key while it runs. */
export class JobRegistry<R, E extends ProgressEvent> {
  private readonly jobs = new Map<string, SharedJob<R, E>>()

  run (key: string, start: (signal: AbortSignal, onProgress: (event: E) => void) => Promise<R>, options: JoinOptions<E> = {}): Promise<R> {
    let job = this.jobs.get(key)
    if (job === undefined) {
      const created = new SharedJob(start)
      this.jobs.set(key, created)
      created.promise.finally(() => { if (this.jobs.get(key) === created) this.jobs.delete(key) }).catch(() => {})
      job = created
    }
    return job.attach(options)
  }

  get size (): number {
    return this.jobs.size
  }
}
