/*
 * sha256 of blob pieces on worker threads, off the thread that reads the network.
 *
 * An import hashes every byte twice: once for the blob's digest (over the whole stream) and once
 * for each 256 KiB block's CID. On the main thread that was ~0.5 s per 288 MiB during which no
 * socket was read and no block written. Here each blob gets a session on one worker; the worker
 * folds every piece into the blob's running hash and hashes the piece alone, in arrival order
 * (a worker handles its messages in order), so both come from one pass over the message queue.
 *
 * Pieces in a SharedArrayBuffer are read by the worker in place: no copy, no transfer, and the
 * main thread keeps them for the blockstore meanwhile. Any other piece is copied to the worker.
 */
import { Worker } from 'node:worker_threads'
import type { StreamHasher } from './digest.js'

/** One blob's hashing: its running digest, and each piece's own digest. */
export interface BlobHasher extends StreamHasher {
  /** The sha256 of a piece passed to `update`, once the worker has it; undefined for any other bytes. */
  pieceDigest(piece: Uint8Array): Promise<Uint8Array> | undefined
  /** Drops the worker's state; call when done or on failure. */
  close(): void
}

export interface HashPoolInit {
  /** Worker threads (default 2) */
  size?: number
  /** Workers end after this long with nothing to hash, so an idle node keeps none (default 5 s) */
  idleMs?: number
}

type Reply = { id: number, digest: Uint8Array } | { id: number, hex: string } | { id: number, error: string }
interface Waiter { resolve: (reply: Reply) => void, reject: (err: Error) => void }

/*
 * Plain JavaScript run with `eval: true`: a worker needs a file of JavaScript, and a module path
 * would differ between the built package and the sources the tests run. CommonJS, so `require`.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const blobs = new Map()
parentPort.on('message', m => {
  try {
    if (m.op === 'piece') {
      let blob = blobs.get(m.blob)
      if (blob === undefined) { blob = createHash('sha256'); blobs.set(m.blob, blob) }
      blob.update(m.piece)
      // a fresh 32-byte array: a digest Buffer may be a view of a shared 8 KiB pool, cloned whole
      parentPort.postMessage({ id: m.id, digest: new Uint8Array(createHash('sha256').update(m.piece).digest()) })
    } else if (m.op === 'digest') {
      const blob = blobs.get(m.blob) ?? createHash('sha256')
      blobs.delete(m.blob)
      parentPort.postMessage({ id: m.id, hex: blob.digest('hex') })
    } else if (m.op === 'drop') {
      blobs.delete(m.blob)
    }
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) })
  }
})
`

class HashWorker {
  readonly worker = new Worker(WORKER_SOURCE, { eval: true })
  readonly waiting = new Map<number, Waiter>()
  sessions = 0
  failure: Error | undefined

  constructor (private readonly onIdle: () => void) {
    this.worker.unref() // held only while replies are awaited (see request)
    this.worker.on('message', (reply: Reply) => { this.settle(reply) })
    this.worker.on('error', err => { this.fail(err) })
    this.worker.on('exit', code => { this.fail(new Error(`hash worker exited (${code})`)) })
  }

  async request (message: { op: string, blob: number, piece?: Uint8Array }, id: number): Promise<Reply> {
    if (this.failure !== undefined) throw this.failure
    if (this.waiting.size === 0) this.worker.ref()
    const reply = new Promise<Reply>((resolve, reject) => { this.waiting.set(id, { resolve, reject }) })
    const buffer = message.piece?.buffer
    this.worker.postMessage({ ...message, id }, buffer instanceof ArrayBuffer ? [buffer] : [])
    return await reply
  }

  post (message: { op: string, blob: number }): void {
    if (this.failure === undefined) this.worker.postMessage(message)
  }

  private settle (reply: Reply): void {
    const waiter = this.waiting.get(reply.id)
    this.waiting.delete(reply.id)
    if (this.waiting.size === 0) {
      this.worker.unref()
      this.onIdle()
    }
    if ('error' in reply) waiter?.reject(new Error(`hash worker: ${reply.error}`))
    else waiter?.resolve(reply)
  }

  private fail (err: Error): void {
    this.failure ??= err
    for (const waiter of this.waiting.values()) waiter.reject(this.failure)
    this.waiting.clear()
  }
}

export class HashPool {
  private readonly workers: HashWorker[] = []
  private readonly size: number
  private readonly idleMs: number
  private idleTimer: NodeJS.Timeout | undefined
  private nextId = 0

  constructor (init: HashPoolInit = {}) {
    this.size = Math.max(1, init.size ?? 2)
    this.idleMs = init.idleMs ?? 5_000
  }

  /** A hasher for one blob, on the worker with the fewest blobs. */
  session (): BlobHasher {
    clearTimeout(this.idleTimer)
    const worker = this.pick()
    worker.sessions++
    const blob = this.nextId++
    const digests = new WeakMap<Uint8Array, Promise<Uint8Array>>()
    let open = true
    /** Once per session, however it ends (digest, close, or both) */
    const end = (): boolean => {
      if (!open) return false
      open = false
      worker.sessions--
      this.scheduleIdle()
      return true
    }
    const close = (): void => { if (end()) worker.post({ op: 'drop', blob }) }
    return {
      update: (piece: Uint8Array): void => {
        const digest = worker.request({ op: 'piece', blob, piece: sendable(piece) }, this.nextId++).then(digestOf)
        digest.catch(() => {}) // awaited by pieceDigest's caller, or the failure shows in digest()
        digests.set(piece, digest)
      },
      pieceDigest: piece => digests.get(piece),
      digest: async (): Promise<string> => {
        try {
          return hexOf(await worker.request({ op: 'digest', blob }, this.nextId++))
        } finally {
          end() // the worker forgot the blob when it answered
        }
      },
      close
    }
  }

  /**
   * Starts a worker ahead of the first blob if none runs: a worker takes ~60 ms to boot in a
   * fresh process, and a cold import's first pieces waited for it (CPU profile: hashing began
   * ~0.1 s after the first piece arrived). The importer calls this before it fetches the
   * manifests. A warmed worker nobody uses ends when idle, as any other.
   */
  warm (): void {
    clearTimeout(this.idleTimer)
    if (!this.workers.some(w => w.failure === undefined)) this.workers.push(new HashWorker(() => { this.scheduleIdle() }))
    this.scheduleIdle()
  }

  /** Workers running now */
  get running (): number {
    return this.workers.filter(w => w.failure === undefined).length
  }

  /** Ends every worker now; later sessions start new ones. */
  async close (): Promise<void> {
    clearTimeout(this.idleTimer)
    const workers = this.workers.splice(0)
    await Promise.all(workers.map(async w => await w.worker.terminate()))
  }

  private pick (): HashWorker {
    for (let i = this.workers.length - 1; i >= 0; i--) {
      if (this.workers[i]?.failure !== undefined) this.workers.splice(i, 1)
    }
    const least = this.workers.reduce<HashWorker | undefined>((best, w) => best === undefined || w.sessions < best.sessions ? w : best, undefined)
    if (least !== undefined && (least.sessions === 0 || this.workers.length >= this.size)) return least
    const worker = new HashWorker(() => { this.scheduleIdle() })
    this.workers.push(worker)
    return worker
  }

  private scheduleIdle (): void {
    const busy = this.workers.some(w => w.sessions > 0 || w.waiting.size > 0)
    if (busy || this.workers.length === 0) return
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => { void this.close() }, this.idleMs).unref()
  }
}

/**
 * Shared memory goes as it is: the worker reads it in place. Other bytes go as an exact copy
 * whose buffer is transferred (cloning a view would copy its whole buffer, a network chunk or
 * Node's 8 KiB pool). A plain Uint8Array: a Buffer costs more to rebuild on the other side.
 */
function sendable (piece: Uint8Array): Uint8Array {
  if (piece.buffer instanceof SharedArrayBuffer) return new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength)
  return new Uint8Array(piece) // a copy (a Buffer's slice() would be a view, and transferring it would detach the caller's bytes)
}

function digestOf (reply: Reply): Uint8Array {
  if ('digest' in reply) return reply.digest
  throw new Error('hash worker: expected a piece digest')
}

function hexOf (reply: Reply): string {
  if ('hex' in reply) return reply.hex
  throw new Error('hash worker: expected a blob digest')
}
