import { randomUUID } from 'node:crypto'
import { formatReference, type ImageReference, type Importer, type ImportedImage } from '@distromash/multiplatform2ipfs'
import type { Logger } from 'pino'

export type JobState = 'running' | 'done' | 'failed'

/** An import of one image from the upstream registry into IPFS, as the API shows it */
export interface ImportJob {
  id: string
  image: string
  state: JobState
  bytesDone: number
  bytesTotal: number
  cid?: string
  digest?: string
  platforms?: string[]
  error?: string
  /** The named error the import failed with (e.g. NotFoundError from the upstream), for mapping at the edge */
  errorName?: string
  createdAt: string
  finishedAt?: string
}

export type JobListener = (job: ImportJob) => void

export interface ImportJobsInit {
  importer: Importer
  /** Records a finished import (store, pins); its failure fails the job */
  onImported: (image: ImportedImage) => Promise<void>
  log: Logger
  /** Finished jobs kept for GET /jobs */
  keep?: number
}

const PROGRESS_EVERY_MS = 250

/**
 * Import jobs: one per image at a time (a second request for a running image joins it),
 * progress from the importer's typed events, errors kept on the job, never swallowed.
 */
export class ImportJobs {
  private readonly jobs = new Map<string, ImportJob>()
  private readonly running = new Map<string, { job: ImportJob, done: Promise<ImportJob> }>()
  private readonly listeners = new Set<JobListener>()

  constructor (private readonly init: ImportJobsInit) {}

  /** Starts an import, or returns the running one for the same image */
  start (reference: ImageReference, platforms?: string[]): ImportJob {
    const key = `${formatReference(reference, { canonical: true })} ${platforms?.join(',') ?? '*'}`
    const existing = this.running.get(key)
    if (existing != null) return { ...existing.job }
    const job: ImportJob = { id: randomUUID(), image: formatReference(reference), state: 'running', bytesDone: 0, bytesTotal: 0, createdAt: new Date().toISOString() }
    this.jobs.set(job.id, job)
    const done = this.run(job, reference, platforms).finally(() => { this.running.delete(key) })
    this.running.set(key, { job, done })
    this.trim()
    this.emit(job)
    return { ...job }
  }

  get (id: string): ImportJob | undefined {
    const job = this.jobs.get(id)
    return job == null ? undefined : { ...job }
  }

  list (): ImportJob[] {
    return [...this.jobs.values()].map(j => ({ ...j })).reverse()
  }

  /** Resolves when the job has finished (done or failed) */
  async wait (id: string): Promise<ImportJob | undefined> {
    const running = [...this.running.values()].find(r => r.job.id === id)
    if (running != null) await running.done
    return this.get(id)
  }

  subscribe (listener: JobListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private async run (job: ImportJob, reference: ImageReference, platforms?: string[]): Promise<ImportJob> {
    let last = 0
    const started = performance.now()
    try {
      const image = await this.init.importer.importImage(reference, {
        platforms,
        onProgress: evt => {
          if (evt.type !== 'import:bytes') return
          job.bytesDone = evt.detail.done
          job.bytesTotal = evt.detail.total
          if (Date.now() - last >= PROGRESS_EVERY_MS) { last = Date.now(); this.emit(job) }
        }
      })
      const stored = performance.now()
      await this.init.onImported(image)
      this.init.log.info({ image: job.image, cid: image.cid.toString(), bytes: image.size, ms: Math.round(performance.now() - started), recordMs: Math.round(performance.now() - stored) }, 'image imported')
      Object.assign(job, { state: 'done', cid: image.cid.toString(), digest: image.digest, platforms: image.platforms })
    } catch (err) {
      job.state = 'failed'
      job.error = (err as Error).message
      job.errorName = (err as Error).name
      this.init.log.warn({ image: job.image, err: job.error }, 'import failed')
    }
    job.finishedAt = new Date().toISOString()
    this.emit(job)
    return job
  }

  private emit (job: ImportJob): void {
    for (const listener of this.listeners) listener({ ...job })
  }

  private trim (): void {
    const keep = this.init.keep ?? 200
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= keep) break
      if (job.state !== 'running') this.jobs.delete(id)
    }
  }
}
