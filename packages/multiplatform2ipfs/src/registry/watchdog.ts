import { setMaxListeners } from 'node:events'
import { BlockTimeoutError } from './errors.js'

/**
 * Fails a request's block reads after `stallMs` without progress. One timer per request rather
 * than an AbortSignal.timeout per block: those cost ~0.15 ms each on Node 20, which at 256 KiB
 * blocks caps throughput well below what the disk or network give.
 */
export class StallWatchdog {
  readonly signal: AbortSignal
  private readonly controller = new AbortController()
  private pending = 0
  private last = Date.now()
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly stallMs: number, parent?: AbortSignal) {
    this.signal = parent === undefined ? this.controller.signal : AbortSignal.any([parent, this.controller.signal])
    // every block read in flight (the read-ahead window, 16 by default) listens to it at once
    setMaxListeners(64, this.signal)
  }

  /** Runs a read under the watchdog; any read finishing counts as progress. */
  async track<T> (read: Promise<T>): Promise<T> {
    this.pending++
    this.arm()
    try {
      return await read
    } finally {
      this.pending--
      this.last = Date.now()
    }
  }

  private arm (): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => { this.check() }, Math.max(1, this.last + this.stallMs - Date.now()))
    this.timer.unref()
  }

  private check (): void {
    this.timer = undefined
    if (this.pending === 0) return
    if (Date.now() - this.last >= this.stallMs) {
      this.controller.abort(new BlockTimeoutError(`no block arrived within ${this.stallMs} ms`))
      return
    }
    this.arm()
  }
}
