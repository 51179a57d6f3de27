// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, render, screen } from '@testing-library/react'
import type { ReactNode } from 'react'
import { LiveProvider, useLiveStatus, useResource } from '../src/api/hooks'
import { ConnectionBanner } from '../src/components/connection-banner'

/** A stand-in for the browser's EventSource, which jsdom lacks */
class FakeSource {
  static last?: FakeSource
  onopen: (() => void) | null = null
  onerror: (() => void) | null = null
  listeners = new Map<string, (e: { data: string }) => void>()
  constructor () { FakeSource.last = this }
  addEventListener (type: string, fn: (e: { data: string }) => void): void { this.listeners.set(type, fn) }
  close (): void {}
  emit (type: string, data: unknown): void { this.listeners.get(type)?.({ data: JSON.stringify(data) }) }
}

function Probe ({ load }: { load: () => Promise<number> }): ReactNode {
  const r = useResource(load, { events: ['replication'], filter: (_n, d) => (d as { image?: string }).image !== 'ignored', debounceMs: 200 })
  return <><ConnectionBanner status={useLiveStatus()} /><p>value {r.data ?? '…'}</p></>
}

describe('live resources', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    vi.stubGlobal('EventSource', FakeSource)
  })
  afterEach(() => {
    cleanup()
    vi.unstubAllGlobals()
    vi.useRealTimers()
  })

  it('refetches once per burst of matching events, and after a reconnect; shows the drop', async () => {
    let n = 0
    const load = vi.fn(async () => ++n)
    render(<LiveProvider><Probe load={load} /></LiveProvider>)
    await act(async () => { await vi.advanceTimersByTimeAsync(0) })
    expect(screen.getByText('value 1')).toBeTruthy()
    const es = FakeSource.last!
    act(() => { es.onopen?.() })

    act(() => {
      for (let i = 0; i < 20; i++) es.emit('replication', { image: 'busybox:1', state: 'fetching', bytesDone: i })
      es.emit('replication', { image: 'ignored' })
      es.emit('store', { key: 'x' })
    })
    await act(async () => { await vi.advanceTimersByTimeAsync(250) })
    expect(load).toHaveBeenCalledTimes(2)
    expect(screen.getByText('value 2')).toBeTruthy()

    act(() => { es.emit('replication', { image: 'ignored' }) })
    await act(async () => { await vi.advanceTimersByTimeAsync(250) })
    expect(load).toHaveBeenCalledTimes(2)

    act(() => { es.onerror?.() })
    expect(screen.getByRole('alert').textContent).toContain('Disconnected — retrying')
    await act(async () => { await vi.advanceTimersByTimeAsync(1000) })
    const again = FakeSource.last!
    expect(again).not.toBe(es)
    await act(async () => { again.onopen?.(); await vi.advanceTimersByTimeAsync(0) })
    expect(screen.queryByRole('alert')).toBeNull()
    expect(load).toHaveBeenCalledTimes(3)
  })
})
