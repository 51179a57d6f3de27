/**
 * How fast this node has been sending blocks: over the last second, and at best lately. A holder
 * whose peers' own requests no longer fill its upload has some to spare (exchange.ts, spare
 * requests), which a count of the requests it answers cannot tell: at the end of a rollout the
 * seed still answered one lagging puller, whose full download held it to 30–60 of 96 Mbit/s for
 * 4–7 s while the others waited for that puller to relay them blocks (bench/distribution).
 */
export class UploadMeter {
  /** Bytes sent per BUCKET_MS, the newest at index `newest % BUCKETS` */
  private readonly buckets = new Float64Array(BUCKETS)
  private newest = 0
  private best = 0
  private bestAt = 0

  constructor (private readonly now: () => number = Date.now) {}

  sent (bytes: number): void {
    this.advance()
    this.buckets[this.newest % BUCKETS] = (this.buckets[this.newest % BUCKETS] ?? 0) + bytes
  }

  /** Bytes per second over the last whole second */
  rate (): number {
    this.advance()
    return this.completeSecond()
  }

  /**
   * The upload runs below `share` of the best second of the last BEST_FOR_MS, and that best was
   * worth measuring (a node that barely sent anything has no measure of its upload)
   */
  hasSpare (share = SPARE_SHARE): boolean {
    const rate = this.rate()
    return this.best >= MIN_BEST_BYTES_PER_SECOND && rate < share * this.best
  }

  /** The second of whole buckets ending `before` buckets back from the newest */
  private second (before: number): number {
    let sum = 0
    for (let i = before; i < before + BUCKETS - 1; i++) sum += this.buckets[(this.newest - i + BUCKETS) % BUCKETS] ?? 0
    return sum * 1000 / ((BUCKETS - 1) * BUCKET_MS)
  }

  private completeSecond (): number {
    return this.second(1)
  }

  private advance (): void {
    const current = Math.floor(this.now() / BUCKET_MS)
    if (current <= this.newest) return
    // the newest bucket is whole now: the second ending with it may be the best (a burst within
    // one bucket is measured here, before the buckets after it are cleared)
    const rate = this.second(0)
    if (rate >= this.best || this.now() - this.bestAt > BEST_FOR_MS) {
      this.best = rate
      this.bestAt = this.now()
    }
    const steps = Math.min(current - this.newest, BUCKETS)
    for (let i = 1; i <= steps; i++) this.buckets[(this.newest + i) % BUCKETS] = 0
    this.newest = current
  }
}

const BUCKET_MS = 100
/** One second of whole buckets, plus the one filling */
const BUCKETS = 11
/** The best second is remembered this long (a link's speed does not change by the second) */
const BEST_FOR_MS = 30_000
/** Below this share of its best second, the upload has room (the seed's dips while full: to 0.85) */
const SPARE_SHARE = 0.75
/** 1 MiB/s: below it, there is no telling */
const MIN_BEST_BYTES_PER_SECOND = 1024 * 1024
