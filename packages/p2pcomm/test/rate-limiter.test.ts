import { describe, expect, it } from 'vitest'
import { PenaltyBox, RateLimiter } from '../src/store/rate-limiter.js'

describe('RateLimiter', () => {
  it('allows a burst, then the refill rate, per key', () => {
    let now = 0
    const limiter = new RateLimiter(10, 5, () => now)
    expect(Array.from({ length: 7 }, () => limiter.take('a'))).toEqual([true, true, true, true, true, false, false])
    expect(limiter.take('b')).toBe(true)
    now += 100 // one token back
    expect(limiter.take('a')).toBe(true)
    expect(limiter.take('a')).toBe(false)
    now += 10_000
    expect(Array.from({ length: 6 }, () => limiter.take('a')).filter(Boolean)).toHaveLength(5)
  })
})

describe('PenaltyBox', () => {
  it('blocks a key after `limit` strikes, for `blockMs`, then forgets it', () => {
    let now = 0
    const box = new PenaltyBox(3, 1000, () => now)
    box.add('a'); box.add('a')
    expect(box.blocked('a')).toBe(false)
    box.add('a')
    expect(box.blocked('a')).toBe(true)
    expect(box.blocked('b')).toBe(false)
    now += 1001
    expect(box.blocked('a')).toBe(false)
    box.add('a')
    expect(box.blocked('a')).toBe(false)
  })
})
