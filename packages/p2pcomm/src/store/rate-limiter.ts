/**
 * Token buckets by key (a neighbour's peer ID): `perSecond` refill, `burst` capacity. The map is
 * bounded: buckets that are full again are forgotten, and past MAX_KEYS the oldest one goes.
 */
const MAX_KEYS = 4096

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (private readonly perSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {}

  /** Whether one more event from `key` is within its budget */
  take (key: string): boolean {
    const now = this.now()
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now }
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.perSecond / 1000)
    bucket.at = now
    const allowed = bucket.tokens >= 1
    if (allowed) bucket.tokens--
    this.buckets.delete(key)
    if (bucket.tokens < this.burst) this.buckets.set(key, bucket)
    if (this.buckets.size > MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value as string)
    return allowed
  }
}

/**
 * Neighbours that sent `limit` records no honest relay forwards (undecodable, forged) are
 * ignored for `blockMs`, without decoding what they send. Bounded like the buckets above.
 */
export class PenaltyBox {
  private readonly strikes = new Map<string, { count: number, until: number }>()

  constructor (private readonly limit: number, private readonly blockMs: number, private readonly now: () => number = Date.now) {}

  add (key: string): void {
    const entry = this.strikes.get(key) ?? { count: 0, until: 0 }
    entry.count++
    if (entry.count >= this.limit) entry.until = this.now() + this.blockMs
    this.strikes.set(key, entry)
    if (this.strikes.size > MAX_KEYS) this.strikes.delete(this.strikes.keys().next().value as string)
  }

  blocked (key: string): boolean {
    const entry = this.strikes.get(key)
    if (entry == null || entry.until === 0) return false
    if (entry.until > this.now()) return true
    this.strikes.delete(key) // served its time: a clean slate
    return false
  }
}
