import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { backoffDelay, connectEvents, type EventSourceLike, type LiveStatus } from '../src/api/events'

class FakeSource implements EventSourceLike {
  static all: FakeSource[] = []
  onopen: ((e: Event) => void) | null = null
  onerror: ((e: Event) => void) | null = null
  closed = false
  listeners = new Map<string, (e: MessageEvent) => void>()
  constructor (readonly url: string) { FakeSource.all.push(this) }
  addEventListener (type: string, fn: (e: MessageEvent) => void): void { this.listeners.set(type, fn) }
  close (): void { this.closed = true }
  emit (type: string, data: string): void { this.listeners.get(type)?.({ data } as MessageEvent) }
}

describe('live event stream', () => {
  beforeEach(() => { vi.useFakeTimers(); FakeSource.all = [] })
  afterEach(() => { vi.useRealTimers() })

  it('backs off exponentially up to a cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(n => backoffDelay(n))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000])
  })

  it('delivers typed events, reports drops, reconnects with backoff and asks for a refetch', () => {
    const statuses: LiveStatus[] = []
    const events: Array<[string, unknown]> = []
    let reconnects = 0
    const stop = connectEvents({
      create: url => new FakeSource(url),
      onStatus: s => statuses.push(s),
      onEvent: (name, data) => events.push([name, data]),
      onReconnect: () => { reconnects++ }
    })
    const first = FakeSource.all[0]!
    expect(first.url).toBe('/api/v1/events')
    first.onopen?.(new Event('open'))
    first.emit('replication', '{"peerId":"p","state":"loaded"}')
    first.emit('job', 'not json')
    expect(events).toEqual([['replication', { peerId: 'p', state: 'loaded' }]])
    expect(reconnects).toBe(0)

    first.onerror?.(new Event('error'))
    expect(first.closed).toBe(true)
    expect(statuses.at(-1)).toMatchObject({ state: 'retrying', attempt: 1 })
    vi.advanceTimersByTime(999)
    expect(FakeSource.all).toHaveLength(1)
    vi.advanceTimersByTime(1)
    const second = FakeSource.all[1]!
    second.onerror?.(new Event('error'))
    expect(statuses.at(-1)).toMatchObject({ state: 'retrying', attempt: 2 })
    vi.advanceTimersByTime(2000)
    const third = FakeSource.all[2]!
    third.onopen?.(new Event('open'))
    expect(statuses.at(-1)).toEqual({ state: 'open' })
    expect(reconnects).toBe(1)

    stop()
    expect(third.closed).toBe(true)
    third.onerror?.(new Event('error'))
    vi.advanceTimersByTime(60_000)
    expect(FakeSource.all).toHaveLength(3)
  })
})
