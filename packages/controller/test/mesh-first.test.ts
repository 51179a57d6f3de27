import { describe, expect, it } from 'vitest'
import { meshFirst, peersFirst, type MeshFirstClock } from '../src/mesh-first.js'

const MiB = 1024 * 1024

/** A clock the test moves: each sleep is recorded and passes at once */
function testClock (): MeshFirstClock & { slept: number[] } {
  let now = 0
  const slept: number[] = []
  return { slept, now: () => now, sleep: async ms => { slept.push(ms); now += ms } }
}

describe('mesh first: the registry paced while peers depend on this node alone', () => {
  it('runs blob reads at the pace while only serving, all streams together', async () => {
    const clock = testClock()
    const pace = meshFirst(() => true, 8 * MiB, clock)
    const signal = new AbortController().signal
    for (let i = 0; i < 32; i++) await pace(256 * 1024, signal)
    // 8 MiB at 8 MiB/s: one second in all
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBeCloseTo(1000, 0)
  })

  it('does not slow reads while the node fetches itself or serves nobody, and starts afresh after', async () => {
    const clock = testClock()
    let only = false
    const pace = meshFirst(() => only, 8 * MiB, clock)
    const signal = new AbortController().signal
    for (let i = 0; i < 32; i++) await pace(256 * 1024, signal)
    expect(clock.slept).toEqual([])
    only = true
    await pace(MiB, signal)
    expect(clock.slept).toEqual([125])
  })

  it('stops waiting when the request is aborted', async () => {
    const pace = meshFirst(() => true, 1024)
    const abort = new AbortController()
    const waiting = pace(MiB, abort.signal)
    abort.abort(new Error('client went away'))
    await expect(waiting).rejects.toThrow(/client went away|aborted/)
  })
})

describe('peers first: a holder replicating what its peers fetch waits for their first blocks', () => {
  it('waits until the bytes are sent since the call', async () => {
    const clock = testClock()
    let sent = 10 * MiB // sent before: does not count
    const waiting = peersFirst(() => { sent += MiB; return sent }, new AbortController().signal, 4 * MiB, 3000, clock)
    await waiting
    // each read sees 1 MiB more: the fourth after the start is 4 MiB on, after three polls
    expect(clock.slept).toEqual([50, 50, 50])
  })

  it('waits no longer than the limit when nothing is sent', async () => {
    const clock = testClock()
    await peersFirst(() => 0, new AbortController().signal, 4 * MiB, 3000, clock)
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBe(3000)
  })

  it('does not wait when the bytes went out at once', async () => {
    const clock = testClock()
    let sent = 0
    await peersFirst(() => { const now = sent; sent += 8 * MiB; return now }, new AbortController().signal, 4 * MiB, 3000, clock)
    expect(clock.slept).toEqual([])
  })
})
