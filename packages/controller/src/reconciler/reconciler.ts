import { contentBlockstore, type Content, type Swarm } from '@distromash/p2pcomm'
import { CHUNK_SIZE, fetchPlatform } from '@distromash/multiplatform2ipfs'
import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import { desiredImages, imageSwarm, ownStatuses } from './desired.js'
import type { DockerEngine } from './docker.js'
import type { PinSet } from './pin-set.js'
import type { Records } from '../records/records.js'
import type { ReplicationState, ReplicationStatus } from '../records/schemas.js'

/** How the reconciler finds an image's root CID (the catalog in the replicated store) */
export type ResolveImage = (nametag: string) => Promise<{ cid: string, importedBy?: string } | undefined>

export interface ReconcilerInit {
  peerId: string
  records: Records
  resolve: ResolveImage
  /** Where blocks and pins live (embedded or Kubo: the reconciler does not know which) */
  content: Content
  pins: PinSet
  docker: DockerEngine
  /** host:port of this node's registry as the local engine reaches it */
  registry: string
  log: Logger
  /**
   * With a disk budget (--max-disk): an image no strategy assigns here any more keeps its pins as a
   * cache (disk/image-cache.ts) instead of releasing them; they are evicted when room runs out
   */
  cache?: { keep: (image: string, options: { signal?: AbortSignal }) => Promise<void> }
  /** Images transferred at once */
  concurrency?: number
  intervalMs?: number
  /** Told how long each stage of a replication took and how it ended (metrics) */
  observer?: ReplicationObserver
  /**
   * Awaited before this node replicates an image it holds whole while peers fetch it, likely from
   * it: their first requests go first (node.ts: until its first blocks are out, a few seconds at most)
   */
  peersFirst?: (signal: AbortSignal) => Promise<void>
}

export type ReplicationStage = 'fetch' | 'pin' | 'load'

export interface ReplicationObserver {
  /** A stage ended; one cancelled (the image no longer assigned here, the node stopping) is not told */
  stage (stage: ReplicationStage, outcome: 'ok' | 'failed', seconds: number): void
}

const PROGRESS_WRITE_MS = 1_000
const RETRY_BASE_MS = 5_000
const RETRY_MAX_MS = 5 * 60_000
/** A pass runs once store changes are quiet this long (see schedule) */
const PASS_QUIET_MS = 20
/** ...and at the latest this long after the first change it has not seen */
const PASS_MAX_WAIT_MS = 100
/** The start of a status error saying the content backend could not be reached (retried once it is back) */
export const CONTENT_UNAVAILABLE = 'content backend unavailable'
/** The same for the Docker engine the node started with: stopped, its socket gone, or hung */
export const ENGINE_UNAVAILABLE = 'docker engine unavailable'
/** Failures of this node's own dependencies, not of the image: retried at once when they are back */
const AWAY_REASONS = [CONTENT_UNAVAILABLE, ENGINE_UNAVAILABLE]

/**
 * Makes this node's reality match the replicated desired state: fetch, pin, load into Docker,
 * report; and undo for images no executing strategy assigns here any more. Idempotent; runs on
 * store changes and periodically; re-reads both states after a restart; never runs inside the
 * store's update path, so transfers never block replication.
 */
export class Reconciler {
  private readonly running = new Map<string, AbortController>()
  private readonly verified = new Map<string, string>()
  private queued = 0
  private timer?: NodeJS.Timeout
  private debounce?: NodeJS.Timeout
  /** When the first change not yet seen by a pass was scheduled */
  private firstUnseen?: number
  private unsubscribe?: () => void
  private ticking = false
  private again = false
  private stopped = false
  private platform?: string
  private backlog = 0

  constructor (private readonly init: ReconcilerInit) {}

  async start (): Promise<void> {
    this.platform = await this.init.docker.platform()
    this.unsubscribe = this.init.records.watch(change => {
      if (change.kind === 'strategy' || change.kind === 'assignment' || change.kind === 'image') this.schedule()
    })
    this.timer = setInterval(() => { this.schedule() }, this.init.intervalMs ?? 10_000)
    this.timer.unref()
    this.schedule()
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    clearTimeout(this.debounce)
    this.unsubscribe?.()
    for (const controller of this.running.values()) controller.abort()
  }

  /** Images assigned here and not yet in their final state (at the last pass), and those being worked on now */
  queue (): { waiting: number, running: number } {
    return { waiting: this.backlog, running: this.running.size }
  }

  get hasDocker (): boolean {
    return this.platform != null
  }

  /**
   * Coalesce bursts of store changes into one pass: a pass runs once changes have been quiet for
   * PASS_QUIET_MS, and no later than PASS_MAX_WAIT_MS after the first change it has not seen (a
   * sync applying thousands of records runs a pass every PASS_MAX_WAIT_MS, not one per record).
   * A strategy and its assignment arrive a few milliseconds apart: one pass sees both.
   */
  schedule (): void {
    if (this.stopped) return
    const now = performance.now()
    this.firstUnseen ??= now
    clearTimeout(this.debounce)
    const wait = Math.min(PASS_QUIET_MS, Math.max(0, this.firstUnseen + PASS_MAX_WAIT_MS - now))
    this.debounce = setTimeout(() => {
      this.firstUnseen = undefined
      void this.tick()
    }, wait)
  }

  private async tick (): Promise<void> {
    if (this.ticking) { this.again = true; return }
    this.ticking = true
    try {
      await this.pass()
    } catch (err) {
      this.init.log.warn({ err: (err as Error).message }, 'reconcile pass failed')
    } finally {
      this.ticking = false
      if (this.again) { this.again = false; this.schedule() }
    }
  }

  private async pass (): Promise<void> {
    const { records, peerId } = this.init
    // an engine that did not answer when the node started (a host booting, dockerd restarted) is used once it does
    if (this.platform == null) this.platform = await this.probeEngine()
    const desired = await desiredImages(records, peerId)
    const statuses = await ownStatuses(records, peerId)
    const done = this.hasDocker ? 'loaded' : 'pinned'
    this.backlog = [...desired.keys()].filter(image => statuses.get(image)?.state !== done).length
    if (await this.dependencyDown(desired.keys(), statuses)) return
    // one image's fault (a record it cannot write, an engine error) must not stop the others
    for (const image of desired.keys()) {
      await this.ensure(image, statuses.get(image)).catch(async (err: Error) => { await this.contain(image, statuses.get(image), err) })
    }
    for (const [image, status] of statuses) {
      if (!desired.has(image) && !this.running.has(image)) this.launch(image, async signal => this.release(image, status, signal))
    }
    for (const [image, controller] of this.running) {
      if (!desired.has(image) && !controller.signal.aborted && statuses.get(image)?.state !== 'removing') controller.abort()
    }
  }

  /**
   * While the content backend or the Docker engine cannot be reached, every image assigned here
   * says so (failed, with the reason) and nothing is fetched, pinned or released; once it is back
   * they are retried at once, not after their backoff.
   */
  private async dependencyDown (desired: Iterable<string>, statuses: Map<string, ReplicationStatus>): Promise<boolean> {
    const reason = await this.awayReason()
    if (reason == null) return false
    this.verified.clear()
    for (const image of desired) {
      const status = statuses.get(image)
      if (status?.state === 'failed' && status.error === reason) continue
      await this.report(image, status?.cid ?? '', 'failed', { error: reason, attempts: status?.attempts, bytesDone: status?.bytesDone, bytesTotal: status?.bytesTotal }).catch(() => {})
    }
    this.init.log.warn({ reason }, 'nothing replicated until it is back')
    return true
  }

  /** The engine's platform; undefined when it does not answer within 10 s (a pass must not hang on it) */
  private async probeEngine (): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, 10_000) })
    try {
      return await Promise.race([this.init.docker.platform(), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  private async awayReason (): Promise<string | undefined> {
    try {
      await this.init.content.stat({ signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      return `${CONTENT_UNAVAILABLE}: ${(err as Error).message}`
    }
    if (!this.hasDocker) return undefined
    try {
      await this.init.docker.ping({ signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      return `${ENGINE_UNAVAILABLE}: ${(err as Error).message}`
    }
    return undefined
  }

  /** The image is failed, with its reason and a retry time, when that can be written; the pass goes on either way */
  private async contain (image: string, status: ReplicationStatus | undefined, err: Error): Promise<void> {
    this.init.log.warn({ image, err: err.message }, 'could not reconcile image')
    const attempts = (status?.attempts ?? 0) + 1
    const retryAt = new Date(Date.now() + Math.min(RETRY_BASE_MS * 2 ** (attempts - 1), RETRY_MAX_MS)).toISOString()
    await this.report(image, status?.cid ?? '', 'failed', { error: err.message, retryAt, attempts }).catch(() => { /* e.g. a name too long for its key */ })
  }

  private async ensure (image: string, status: ReplicationStatus | undefined): Promise<void> {
    if (this.running.has(image)) return
    const record = await this.init.resolve(image)
    if (record == null) { // still importing somewhere
      if (status == null) await this.report(image, '', 'pending')
      return
    }
    const done = this.hasDocker ? 'loaded' : 'pinned'
    // failed only because the content backend or the engine was away: what it held may still be whole
    const wasAway = status?.state === 'failed' && AWAY_REASONS.some(r => status.error?.startsWith(r) === true)
    if ((status?.state === done || wasAway) && status?.cid === record.cid && await this.isReal(image, record.cid)) {
      if (wasAway) await this.report(image, record.cid, done, { bytesDone: status.bytesDone, bytesTotal: status.bytesTotal })
      return
    }
    if (!wasAway && status?.state === 'failed' && status.cid === record.cid && status.retryAt != null && Date.parse(status.retryAt) > Date.now()) return
    if (this.queued >= (this.init.concurrency ?? 2)) { // the next pass picks it up
      if (status == null) await this.report(image, record.cid, 'pending')
      return
    }
    this.launch(image, async signal => this.install(image, record, status, signal))
  }

  /** After a restart, trust a finished status only if the pins and the engine agree */
  private async isReal (image: string, cid: string): Promise<boolean> {
    if (this.verified.get(image) === cid) return true
    const pinned = await this.init.pins.holds(CID.parse(cid), image)
    const loaded = !this.hasDocker || await this.init.docker.imageId(image) != null
    if (pinned && loaded) this.verified.set(image, cid)
    return pinned && loaded
  }

  private launch (image: string, work: (signal: AbortSignal) => Promise<void>): void {
    const controller = new AbortController()
    this.running.set(image, controller)
    this.queued++
    work(controller.signal)
      .catch((err: Error) => { this.init.log.warn({ image, err: err.message }, 'replication step failed') })
      .finally(() => {
        this.running.delete(image)
        this.queued--
        this.schedule()
      })
  }

  private async install (image: string, record: { cid: string, importedBy?: string }, previous: ReplicationStatus | undefined, signal: AbortSignal): Promise<void> {
    const { cid } = record
    const attempts = previous?.cid === cid ? previous.attempts ?? 0 : 0
    const ref = `${this.init.registry}/${image}`
    // the engine pulls from this node's registry while the blocks arrive (it waits for them there)
    const pullAbort = new AbortController()
    let pulling: Promise<void> | undefined
    const startPull = (): void => {
      if (!this.hasDocker || pulling != null) return
      const pullSignal = AbortSignal.any([signal, pullAbort.signal])
      pulling = this.timed('load', this.init.docker.pull(ref, { signal: pullSignal }), pullSignal)
      pulling.catch(() => { /* awaited below; a fetch failure aborts it first */ })
    }
    let lastWrite = 0
    const started = Date.now()
    try {
      this.init.log.info({ image, cid }, 'replicating image')
      await this.report(image, cid, 'fetching', { bytesDone: 0 })
      let best = 0
      const progress = (done: number, total: number): void => {
        if (done <= best) return
        best = done
        if (Date.now() - lastWrite < PROGRESS_WRITE_MS) return
        lastWrite = Date.now()
        void this.report(image, cid, 'fetching', { bytesDone: best, bytesTotal: total })
      }
      const swarm = await this.swarm(image, record)
      if (swarm.holders.includes(this.init.peerId) && swarm.pullers.length > 0) await this.init.peersFirst?.(signal)
      const { content } = this.init
      // each blob is pinned as soon as it is here whole, while the rest arrives, so what is left
      // to pin when the fetch ends is little (a backend that fetches while it pins tells of none)
      const early = new Map<string, Promise<void>>()
      const pinEarly = (blob: CID): void => {
        if (early.has(blob.toString())) return
        const pin = this.init.pins.add(blob, image, { signal })
        pin.catch(() => { /* awaited once the fetch ends */ })
        early.set(blob.toString(), pin)
      }
      const fetched = await this.timed('fetch', fetchPlatform(CID.parse(cid), {
        // the layout's small files and directories: asked of complete holders first
        blockstore: contentBlockstore(content, { swarm }),
        fetch: async (blobs, options) => await content.fetch(blobs, { ...options, swarm })
      }, {
        platform: this.platform ?? hostPlatform(),
        onReadable: () => {
          this.init.log.info({ image, ms: Date.now() - started }, 'fetch started, loading into docker meanwhile')
          startPull()
        },
        onBlobFetched: pinEarly,
        signal,
        onProgress: progress
      }), signal)
      if (fetched.overBitswap > 0) this.init.log.warn({ image, blocks: fetched.overBitswap }, 'blocks no peer of the swarm gave came over bitswap')
      this.init.log.info({ image, ms: Date.now() - started, bytes: fetched.bytes }, 'image fetched')
      startPull()
      // the engine finishes its pull (the last layer's extraction) while the pins are written
      const pinned = this.timed('pin', (async () => {
        // a backend that fetches while it pins (Kubo) reports its progress here, in blocks
        let blocks = 0
        for (const pin of fetched.pins) {
          const pinning = early.get(pin.cid.toString())
          if (pinning != null) {
            await pinning
            continue
          }
          let counted = 0
          await this.init.pins.add(pin.cid, image, {
            depth: pin.depth,
            signal,
            onProgress: n => { blocks += n - counted; counted = n; progress(Math.min(blocks * CHUNK_SIZE, fetched.bytes), fetched.bytes) }
          })
        }
        await this.report(image, cid, 'pinned', { bytesDone: fetched.bytes, bytesTotal: fetched.bytes })
      })(), signal)
      // both settle before anything is reported: a failure is the last word, never overwritten
      const failure = (await Promise.allSettled([pinned, pulling])).find(r => r.status === 'rejected')
      if (failure != null) throw failure.reason
      if (!this.hasDocker) return
      await this.init.docker.tag(ref, image)
      this.verified.set(image, cid)
      await this.report(image, cid, 'loaded', { bytesDone: fetched.bytes, bytesTotal: fetched.bytes })
      this.init.log.info({ image, ms: Date.now() - started }, 'image loaded')
    } catch (err) {
      pullAbort.abort()
      if (signal.aborted) return
      const retryAt = new Date(Date.now() + Math.min(RETRY_BASE_MS * 2 ** attempts, RETRY_MAX_MS)).toISOString()
      await this.report(image, cid, 'failed', { error: (err as Error).message, retryAt, attempts: attempts + 1 })
      throw err
    }
  }

  /** The stage's work, its duration and outcome told to the observer */
  private async timed<T> (stage: ReplicationStage, work: Promise<T>, signal: AbortSignal): Promise<T> {
    const started = performance.now()
    const seconds = (): number => (performance.now() - started) / 1000
    try {
      const out = await work
      this.init.observer?.stage(stage, 'ok', seconds())
      return out
    } catch (err) {
      if (!signal.aborted) this.init.observer?.stage(stage, 'failed', seconds())
      throw err
    }
  }

  /** Who to ask for the image's blocks; read once per fetch: peers that finish meanwhile keep serving what they have */
  private async swarm (image: string, record: { cid: string, importedBy?: string }): Promise<Swarm> {
    return { self: this.init.peerId, ...await imageSwarm(this.init.records, image, record.cid, record.importedBy) }
  }

  private async release (image: string, status: ReplicationStatus, signal: AbortSignal): Promise<void> {
    await this.report(image, status.cid, 'removing')
    if (this.hasDocker) {
      await this.init.docker.remove(image)
      await this.init.docker.remove(`${this.init.registry}/${image}`)
    }
    if (this.init.cache != null) await this.init.cache.keep(image, { signal })
    else await this.init.pins.releaseAll(image, { signal })
    this.verified.delete(image)
    await this.init.records.deleteStatus(image)
  }

  private async report (image: string, cid: string, state: ReplicationState, extra: Partial<ReplicationStatus> = {}): Promise<void> {
    const status: ReplicationStatus = { image, cid, state, docker: this.hasDocker, content: this.init.content.backend.kind, updatedAt: new Date().toISOString(), ...extra }
    await this.init.records.putStatus(image, status)
  }
}

function hostPlatform (): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch
  return `linux/${arch}`
}
